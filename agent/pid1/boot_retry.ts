/**
 * A failed boot as PID 1 (reference §2.14, F33): PID 1 must not exit (the
 * kernel would panic), so the failed boot is retried with exponential
 * backoff 1 s, 2 s, 4 s … capped at 60 s, at most 30 retries; then the
 * agent stays up in BootFailed (the BMC console is the way in) with its
 * watchdog still petted, until SIGTERM. Outside PID 1 the first failure is
 * returned at once: systemd (or whoever started the agent) restarts it.
 */
import { backoffDelayMs } from "../../shared/backoff.ts";

/** Retry schedule of a failed boot. */
export interface BootRetryOptions {
  readonly asInit: boolean;
  readonly maxRetries?: number;
  readonly firstDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Resolves when the agent is asked to stop. */
  readonly stopped: Promise<void>;
  readonly log: (line: string) => void;
}

/** The delay before retry `n` (0-based): 1 s, 2 s, 4 s … capped. */
export function retryDelayMs(n: number, first = 1_000, max = 60_000): number {
  return backoffDelayMs(n, first, max);
}

/**
 * Runs `boot` until it yields a node; its failures are exit codes. Returns
 * the node, or the last exit code when retries are over (after a stop
 * request, as PID 1).
 */
export async function bootWithRetries<T>(
  boot: () => Promise<T | number>,
  options: BootRetryOptions,
): Promise<T | number> {
  const maxRetries = options.maxRetries ?? 30;
  let stopRequested = false;
  void options.stopped.then(() => (stopRequested = true));
  let result = await boot();
  for (let n = 0; typeof result === "number" && options.asInit && n < maxRetries; n++) {
    const delay = retryDelayMs(n, options.firstDelayMs, options.maxDelayMs);
    options.log(`boot failed (exit ${result}); retry ${n + 1}/${maxRetries} in ${delay / 1000} s`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      options.stopped,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, delay))),
    ]);
    clearTimeout(timer);
    if (stopRequested) return result;
    result = await boot();
  }
  if (typeof result === "number" && options.asInit && !stopRequested) {
    options.log(
      `BootFailed after ${maxRetries} retries; staying up as PID 1 (BMC console only) until SIGTERM`,
    );
    await options.stopped;
  }
  return result;
}
