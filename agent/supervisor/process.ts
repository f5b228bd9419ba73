/**
 * The process port: spawning a service's process. The real adapter uses
 * `Deno.Command` and records every pid it spawns in a ChildRegistry, so the
 * PID-1 reaper can tell our children (whose exit status Deno must collect)
 * from adopted orphans (which it reaps itself).
 */
import type { ExitStatus } from "./restart_decision.ts";

/** What to run. */
export interface SpawnRequest {
  readonly binary: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/** A running process with piped stdout and stderr. */
export interface SpawnedProcess {
  readonly pid: number;
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  /** Resolves once the process has exited and its status was collected. */
  readonly exited: Promise<ExitStatus>;
  /** Sends a signal; does nothing if the process has already exited. */
  kill(signal: Deno.Signal): void;
}

/** Spawns processes; throws when the binary cannot be started. */
export interface ProcessSpawner {
  spawn(request: SpawnRequest): SpawnedProcess;
}

/** The pids of processes this agent spawned and whose status it has not collected yet. */
export class ChildRegistry {
  readonly #pids = new Set<number>();

  add(pid: number): void {
    this.#pids.add(pid);
  }

  delete(pid: number): void {
    this.#pids.delete(pid);
  }

  has(pid: number): boolean {
    return this.#pids.has(pid);
  }

  get size(): number {
    return this.#pids.size;
  }
}

/** The registry shared by every spawner of this process (one agent, one set of children). */
export const ownChildren = new ChildRegistry();

/** Spawns with `Deno.Command`; stdin is closed, stdout/stderr are piped. */
export class DenoSpawner implements ProcessSpawner {
  readonly #registry: ChildRegistry;

  constructor(registry: ChildRegistry = ownChildren) {
    this.#registry = registry;
  }

  spawn(request: SpawnRequest): SpawnedProcess {
    const child = new Deno.Command(request.binary, {
      args: [...request.args],
      env: { ...request.env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pid = child.pid;
    // Registered before any other code runs: the reaper runs on this thread.
    this.#registry.add(pid);
    let done = false;
    const exited = child.status.then((status) => {
      done = true;
      this.#registry.delete(pid);
      return { code: status.signal === null ? status.code : null, signal: status.signal };
    });
    return {
      pid,
      stdout: child.stdout,
      stderr: child.stderr,
      exited,
      kill(signal) {
        if (done) return;
        try {
          child.kill(signal);
        } catch (err) {
          // The process exited between our check and the signal.
          if (!(err instanceof TypeError) && !(err instanceof Deno.errors.NotFound)) throw err;
        }
      },
    };
  }
}
