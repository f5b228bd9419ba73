/**
 * Orphan reaping for PID 1 (or a child subreaper). Orphaned grandchildren
 * of services are re-parented to us and become zombies when they exit
 * unless we collect them. A plain `waitpid(-1)` would also collect our own
 * children and steal the exit status `Deno.Command` waits for, so the
 * reaper peeks with `waitid(..., WNOWAIT)` and collects only pids that are
 * not ours (ARCHITECTURE.md §5).
 */
import { P_ALL, P_PID, type WaitCalls } from "./libc.ts";

/** Zombies collected in one pass at most; the next pass takes the rest. */
const REAP_PASS_PIDS_MAX = 4096;

/** Options of an OrphanReaper. */
export interface ReaperOptions {
  readonly calls: WaitCalls;
  /** True for pids this agent spawned itself (their status belongs to Deno.Command). */
  readonly isOwn: (pid: number) => boolean;
  /** Called with each pid collected. */
  readonly onReaped?: (pid: number) => void;
  /** Safety-net pass interval; SIGCHLD signals coalesce (default 1 s). */
  readonly intervalMs?: number;
  /** Where to look for our zombie children when an own child blocks the peek. */
  readonly procRoot?: string;
}

/** Collects exited orphans on SIGCHLD and on a timer. */
export class OrphanReaper {
  readonly #options: ReaperOptions;
  #timer: ReturnType<typeof setInterval> | undefined;
  #onSignal: (() => void) | undefined;
  /** Orphans collected since construction. */
  reapedCount = 0;

  constructor(options: ReaperOptions) {
    this.#options = options;
  }

  /** Starts reaping on SIGCHLD and every interval. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#onSignal = () => this.reapOnce();
    Deno.addSignalListener("SIGCHLD", this.#onSignal);
    this.#timer = setInterval(() => this.reapOnce(), this.#options.intervalMs ?? 1000);
  }

  stop(): void {
    if (this.#onSignal !== undefined) Deno.removeSignalListener("SIGCHLD", this.#onSignal);
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#onSignal = undefined;
  }

  /** One pass: collects every exited child that is not ours. Returns their pids. */
  reapOnce(): number[] {
    const { calls, isOwn } = this.#options;
    const reaped: number[] = [];
    let blocked = false;
    while (reaped.length < REAP_PASS_PIDS_MAX) {
      const pid = calls.peekExited(P_ALL, 0);
      if (pid <= 0) break; // No exited child (0) or no children at all (-1).
      if (isOwn(pid)) {
        // Deno collects this one; waitid keeps reporting it until then, so
        // the other zombies are found through /proc instead.
        blocked = true;
        break;
      }
      if (calls.reap(pid) !== pid) break;
      reaped.push(pid);
    }
    if (blocked) {
      for (const pid of zombieChildren(this.#options.procRoot ?? "/proc")) {
        if (reaped.length >= REAP_PASS_PIDS_MAX) break;
        if (isOwn(pid) || calls.peekExited(P_PID, pid) !== pid) continue;
        if (calls.reap(pid) === pid) reaped.push(pid);
      }
    }
    for (const pid of reaped) this.#options.onReaped?.(pid);
    this.reapedCount += reaped.length;
    return reaped;
  }
}

/** Pids of our children that are zombies, read from `<procRoot>/<pid>/stat`. */
export function zombieChildren(procRoot: string): number[] {
  const found: number[] = [];
  const self = String(Deno.pid);
  for (const entry of Deno.readDirSync(procRoot)) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = readStat(`${procRoot}/${entry.name}/stat`);
    if (stat !== undefined && stat.state === "Z" && stat.ppid === self) {
      found.push(Number(entry.name));
    }
  }
  return found;
}

/** State and parent of a process from its stat line (comm may contain spaces and parens). */
export function readStat(path: string): { state: string; ppid: string } | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return undefined; // It exited while we looked.
  }
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0] ?? "", ppid: fields[1] ?? "" };
}
