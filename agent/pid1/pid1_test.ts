/**
 * The supervisor as a real PID 1: testdata/init_entry.ts runs as the init of
 * a new pid namespace (`unshare --user --map-root-user --pid --fork
 * --mount-proc`), with services that orphan grandchildren. The test watches
 * from outside through the host's /proc, so what it checks does not depend
 * on the code under test.
 */
import assert from "node:assert/strict";
import { commandSucceeds } from "../../shared/testing/commands.ts";
import { fileURLToPath as fromFileUrl } from "node:url";
import { readStat } from "./reaper.ts";

const UNSHARE = ["--user", "--map-root-user", "--pid", "--fork", "--mount-proc"];
const REPO = fromFileUrl(new URL("../../", import.meta.url));
const ENTRY = fromFileUrl(new URL("./testdata/init_entry.ts", import.meta.url));

const available = commandSucceeds("unshare", [...UNSHARE, "true"]);
if (!available) {
  console.warn(
    "pid1_test: skipped: `unshare --user --map-root-user --pid --fork --mount-proc true` fails here (no unprivileged user/pid namespaces)",
  );
}

interface Line {
  ready?: boolean;
  exit?: string;
  reaped?: number;
  event?: { service: string; action: string; exitCode?: number; detail: string };
}

/** One run of the entry script as PID 1 of a new namespace. */
class NamespaceInit {
  readonly lines: Line[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #reading: Promise<void>;
  readonly stderr: Promise<string>;

  constructor(configPath: string, extraArgs: string[]) {
    const child = new Deno.Command("unshare", {
      args: [...UNSHARE, Deno.execPath(), "run", "-A", ENTRY, configPath, ...extraArgs],
      cwd: REPO,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.stderr = new Response(child.stderr).text();
    this.#reading = (async () => {
      let buffered = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        buffered += chunk;
        let newline;
        while ((newline = buffered.indexOf("\n")) >= 0) {
          this.lines.push(JSON.parse(buffered.slice(0, newline)));
          buffered = buffered.slice(newline + 1);
        }
      }
    })();
  }

  /** The init's pid as the host sees it: the only child of unshare. */
  initPid(): number {
    const pid = this.#child.pid;
    const children = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim().split(/\s+/);
    assert.equal(children.length, 1, `unshare has children ${children}`);
    return Number(children[0]);
  }

  async until(what: string, predicate: () => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) {
        throw new Error(`Timed out waiting for ${what}; stdout: ${JSON.stringify(this.lines)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  events(action?: string): NonNullable<Line["event"]>[] {
    return this.lines.flatMap((l) =>
      l.event && (action === undefined || l.event.action === action) ? [l.event] : []
    );
  }

  async finish(): Promise<{ code: number; stderr: string }> {
    const status = await this.#child.status;
    await this.#reading;
    return { code: status.code, stderr: await this.stderr };
  }

  /** Ends the namespace at once (SIGKILL to its init) if it still runs. */
  async abort(): Promise<void> {
    try {
      Deno.kill(this.initPid(), "SIGKILL");
    } catch {
      // Already gone.
    }
    await this.finish().catch(() => {});
  }
}

/** Descendants of `root` (host pids) with their state, from the host's /proc. */
function descendants(root: number): { pid: number; state: string }[] {
  const parentOf = new Map<number, { ppid: number; state: string }>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = readStat(`/proc/${entry.name}/stat`);
    if (stat) parentOf.set(Number(entry.name), { ppid: Number(stat.ppid), state: stat.state });
  }
  const result: { pid: number; state: string }[] = [];
  for (const [pid, info] of parentOf) {
    for (let up = info.ppid; up > 1; up = parentOf.get(up)?.ppid ?? 0) {
      if (up === root) {
        result.push({ pid, state: info.state });
        break;
      }
    }
  }
  return result;
}

async function writeConfig(dir: string): Promise<string> {
  const marks = `${dir}/terms`;
  const sleeper = (name: string) =>
    `trap 'echo ${name} >> ${marks}; exit 0' TERM; while :; do sleep 0.05; done`;
  const sh = (name: string, script: string, fields: Record<string, unknown>) => ({
    name,
    binary: "/bin/sh",
    args: ["-c", script],
    ...fields,
  });
  const services = [
    sh("chronyd", sleeper("chronyd"), { order: 1 }),
    // Leaves two short-lived orphans (zombies unless init reaps them) and one
    // long-lived one each time it runs, and runs every second.
    sh("orphaner", "(sleep 0.2; exit 3) & (sleep 0.3) & (sleep 30) & echo spawned; exit 0", {
      order: 2,
      restartPolicy: "always",
      restartDelaySeconds: 1,
    }),
    // Its exit status must reach the supervisor while the reaper works.
    sh("exit7", "sleep 1.5; exit 7", { order: 3, restartPolicy: "never" }),
    sh("lattice", sleeper("lattice"), { order: 4, dependsOn: ["chronyd"] }),
    sh("rasdaemon", sleeper("rasdaemon"), { order: 5 }),
  ];
  const path = `${dir}/config.json`;
  await Deno.writeTextFile(path, JSON.stringify({ services, logDirectory: dir }));
  return path;
}

Deno.test({
  name:
    "runAsInit as PID 1 reaps orphans, keeps its children's exit codes and stops in reverse order",
  ignore: !available,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "pact-pid1-" });
    const init = new NamespaceInit(await writeConfig(dir), []);
    try {
      await init.until("ready", () => init.lines.some((l) => l.ready));
      assert.equal(init.lines.find((l) => l.ready)!.ready, true);
      const initPid = init.initPid();
      await init.until(
        "exit7 to crash",
        () => init.events("crash").some((e) => e.service === "exit7"),
      );
      const crash = init.events("crash").find((e) => e.service === "exit7")!;
      assert.equal(crash.exitCode, 7, "the reaper must not steal a service's exit status");
      assert.equal(crash.detail, "exited with code 7");
      await init.until(
        "the orphaner to run three times",
        () => init.events("restart").filter((e) => e.service === "orphaner").length >= 2,
      );
      // Orphans exit 0.2-0.3 s after each run; give the reaper a moment, then none may be left.
      await new Promise((resolve) => setTimeout(resolve, 600));
      // A zombie may exist for the moment between its exit and SIGCHLD; none may last.
      const zombies = () => descendants(initPid).filter((p) => p.state === "Z");
      await init.until("no zombies", () => zombies().length === 0, 3000).catch(() => {});
      assert.deepEqual(zombies(), [], "no zombie survives under the namespace's init");
      const sleepers = descendants(initPid).filter((p) => p.state !== "Z");
      assert.ok(
        sleepers.length >= 3 + 3,
        `long-lived orphans and services are alive: ${sleepers.length}`,
      );

      Deno.kill(initPid, "SIGUSR1");
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.ok(readStat(`/proc/${initPid}/stat`) !== undefined, "SIGUSR1 is ignored by PID 1");

      Deno.kill(initPid, "SIGTERM");
      const { code, stderr } = await init.finish();
      assert.equal(code, 0, stderr);
      const stops = init.events("stop").filter((e) => e.detail.startsWith("stopped")).map((e) =>
        e.service
      );
      assert.deepEqual(stops, ["rasdaemon", "lattice", "chronyd"]);
      assert.equal(await Deno.readTextFile(`${dir}/terms`), "rasdaemon\nlattice\nchronyd\n");
      const last = init.lines.at(-1)!;
      assert.equal(last.exit, "SIGTERM");
      assert.ok(last.reaped! >= 4, `reaped ${last.reaped} orphans`);
    } finally {
      await init.abort();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "startInit() without reaping leaves zombies (the check above can see them)",
  ignore: !available,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "pact-pid1-" });
    const init = new NamespaceInit(await writeConfig(dir), ["--no-reap"]);
    try {
      await init.until("ready", () => init.lines.some((l) => l.ready));
      const initPid = init.initPid();
      await init.until(
        "zombies",
        () => descendants(initPid).filter((p) => p.state === "Z").length >= 2,
        10_000,
      );
      Deno.kill(initPid, "SIGTERM");
      const { code, stderr } = await init.finish();
      assert.equal(code, 0, stderr);
      assert.equal(init.lines.at(-1)!.reaped, 0);
    } finally {
      await init.abort();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
