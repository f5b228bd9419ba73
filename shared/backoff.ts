/**
 * Exponential backoff, as every retry loop in pact uses it: the delay before
 * retry `n` (0 for the first) is `baseMs * 2^n`, capped at `maxMs`.
 */

/** Retry timing: first delay, cap, and how many attempts before giving up. */
export interface Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
  readonly attempts: number;
}

/** The delay before retry `n` (0-based): baseMs, 2·baseMs, 4·baseMs … at most maxMs. */
export function backoffDelayMs(n: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** n);
}
