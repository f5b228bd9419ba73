import assert from "node:assert/strict";
import { P_ALL, P_PID, type WaitCalls } from "./libc.ts";
import { OrphanReaper, readStat, zombieChildren } from "./reaper.ts";

/** Kernel stand-in: exited children in the order waitid reports them. */
class ExitedChildren implements WaitCalls {
  readonly reaped: number[] = [];
  constructor(public exited: number[]) {}

  peekExited(idType: number, id: number): number {
    if (idType === P_ALL) return this.exited[0] ?? 0;
    assert.equal(idType, P_PID);
    return this.exited.includes(id) ? id : 0;
  }

  reap(pid: number): number {
    if (!this.exited.includes(pid)) return -1;
    this.exited = this.exited.filter((p) => p !== pid);
    this.reaped.push(pid);
    return pid;
  }

  becomeSubreaper(): boolean {
    return true;
  }
}

async function procWith(zombies: number[]): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "pact-proc-" });
  for (const pid of zombies) {
    await Deno.mkdir(`${root}/${pid}`);
    await Deno.writeTextFile(`${root}/${pid}/stat`, `${pid} (odd ) name) Z ${Deno.pid} 1 1 0 -1\n`);
  }
  await Deno.mkdir(`${root}/self`);
  return root;
}

Deno.test("OrphanReaper.reapOnce() collects orphans and never an own child", async () => {
  const own = new Set([100]);
  const kernel = new ExitedChildren([200, 201, 100, 202]);
  const procRoot = await procWith([100, 202]);
  try {
    const reaper = new OrphanReaper({ calls: kernel, isOwn: (pid) => own.has(pid), procRoot });
    const reaped = reaper.reapOnce();
    // 200 and 201 through waitid; then 100 (ours) blocks the peek and 202 is found in /proc.
    assert.deepEqual(reaped, [200, 201, 202]);
    assert.deepEqual(kernel.exited, [100], "our child's status is left for Deno.Command");
    assert.equal(reaper.reapedCount, 3);
    assert.deepEqual(reaper.reapOnce(), []);
  } finally {
    await Deno.remove(procRoot, { recursive: true });
  }
});

Deno.test("readStat() and zombieChildren() parse comm names with spaces and parentheses", async () => {
  const procRoot = await procWith([300]);
  try {
    assert.deepEqual(readStat(`${procRoot}/300/stat`), { state: "Z", ppid: String(Deno.pid) });
    assert.equal(readStat(`${procRoot}/999/stat`), undefined);
    assert.deepEqual(zombieChildren(procRoot), [300]);
  } finally {
    await Deno.remove(procRoot, { recursive: true });
  }
});
