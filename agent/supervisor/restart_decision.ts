/**
 * What the supervisor does after a service's process exits on its own: a
 * pure function of the policy, the exit and the crash history, so backoff
 * and crash-loop detection are tested without processes or time.
 */
import type { RestartPolicy } from "./service_spec.ts";

/** Limits of the restart backoff and of crash-loop detection. */
export interface RestartLimits {
  /** Longest delay between restarts. */
  readonly backoffMaxMs: number;
  /** A service that ran this long before exiting starts its backoff over. */
  readonly backoffResetMs: number;
  /** This many exits within `crashLoopWindowMs` make a crash loop. */
  readonly crashLoopExitsMax: number;
  readonly crashLoopWindowMs: number;
}

/** Defaults: backoff capped at 60 s, reset after 60 s up, 5 exits in 60 s is a loop. */
export const DEFAULT_RESTART_LIMITS: RestartLimits = {
  backoffMaxMs: 60_000,
  backoffResetMs: 60_000,
  crashLoopExitsMax: 5,
  crashLoopWindowMs: 60_000,
};

/** How a process ended: `code` is null when a signal ended it. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: string | null;
}

/** Restart history of one service. */
export interface CrashHistory {
  /** Restarts in a row without a long enough run in between. */
  readonly consecutive: number;
  /** Times of recent unplanned exits, oldest first, within the crash-loop window. */
  readonly exitTimesMs: readonly number[];
}

/** The empty history of a service that has not exited yet. */
export const NO_CRASHES: CrashHistory = { consecutive: 0, exitTimesMs: [] };

/** What to do after an exit. */
export type RestartDecision =
  | { readonly kind: "stay_stopped"; readonly history: CrashHistory }
  | { readonly kind: "restart"; readonly delayMs: number; readonly history: CrashHistory }
  | { readonly kind: "crash_loop"; readonly history: CrashHistory };

/** True when the exit counts as a failure (non-zero code or killed by a signal). */
export function isFailure(exit: ExitStatus): boolean {
  return exit.code !== 0;
}

/**
 * Decides what follows an unplanned exit at `nowMs` of a process started at
 * `startedAtMs`. The delay is `baseDelayMs * 2^(consecutive-1)`, capped.
 */
export function decideRestart(
  policy: RestartPolicy,
  exit: ExitStatus,
  history: CrashHistory,
  timing: { readonly nowMs: number; readonly startedAtMs: number; readonly baseDelayMs: number },
  limits: RestartLimits = DEFAULT_RESTART_LIMITS,
): RestartDecision {
  const ranLong = timing.nowMs - timing.startedAtMs >= limits.backoffResetMs;
  const exitTimesMs = [
    ...history.exitTimesMs.filter((t) => timing.nowMs - t < limits.crashLoopWindowMs),
    timing.nowMs,
  ].slice(-limits.crashLoopExitsMax);
  const consecutive = (ranLong ? 0 : history.consecutive) + 1;
  const next: CrashHistory = { consecutive, exitTimesMs };
  const wantsRestart = policy === "always" || (policy === "on_failure" && isFailure(exit));
  if (!wantsRestart) return { kind: "stay_stopped", history: next };
  if (exitTimesMs.length >= limits.crashLoopExitsMax) return { kind: "crash_loop", history: next };
  const delayMs = Math.min(
    limits.backoffMaxMs,
    timing.baseDelayMs * 2 ** Math.min(consecutive - 1, 30),
  );
  return { kind: "restart", delayMs, history: next };
}
