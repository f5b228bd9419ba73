/**
 * The agent's duties as init: signal handlers first, orphan reaping that
 * leaves our own children's status to Deno, and an ordered shutdown (the
 * supervisor stops services in reverse start order) on SIGTERM/SIGINT.
 */
import type { ServiceManager } from "../supervisor/service_manager.ts";
import { ownChildren } from "../supervisor/process.ts";
import { libcWaitCalls, type WaitCalls } from "./libc.ts";
import { OrphanReaper } from "./reaper.ts";
import { installSignalHandlers } from "./signals.ts";

/** Options of startInit. */
export interface InitOptions {
  /** Reap orphans (default true; false only for tests that show why it matters). */
  readonly reap?: boolean;
  readonly calls?: WaitCalls;
  readonly isOwn?: (pid: number) => boolean;
}

/** Init duties in place; `run` supervises until SIGTERM/SIGINT. */
export interface Init {
  /**
   * Starts every service, calls `onReady`, waits for SIGTERM or SIGINT,
   * stops every service in reverse order, collects the last orphans and
   * resolves with the signal.
   */
  run(manager: ServiceManager, onReady?: () => void): Promise<"SIGTERM" | "SIGINT">;
  readonly reaper: OrphanReaper;
}

/**
 * Installs the signal handlers and starts reaping. Call it first thing, before
 * any configuration is read: a signal that arrives earlier would kill PID 1.
 */
export function startInit(options: InitOptions = {}): Init {
  let shutdown!: (signal: "SIGTERM" | "SIGINT") => void;
  const requested = new Promise<"SIGTERM" | "SIGINT">((resolve) => (shutdown = resolve));
  const removeHandlers = installSignalHandlers({ onShutdown: (signal) => shutdown(signal) });
  const reap = options.reap !== false;
  const calls = options.calls ?? libcWaitCalls();
  const reaper = new OrphanReaper({
    calls,
    isOwn: options.isOwn ?? ((pid) => ownChildren.has(pid)),
  });
  if (reap) {
    // Outside a pid namespace the orphans would go to the real init instead.
    if (Deno.pid !== 1) calls.becomeSubreaper();
    reaper.start();
  }
  return {
    reaper,
    async run(manager, onReady) {
      try {
        await manager.startAll();
        onReady?.();
        const signal = await requested;
        await manager.stopAll();
        return signal;
      } finally {
        if (reap) {
          reaper.reapOnce();
          reaper.stop();
        }
        removeHandlers();
      }
    },
  };
}
