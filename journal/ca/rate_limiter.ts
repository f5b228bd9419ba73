import type { Clock } from "../../shared/clock/clock.ts";

/**
 * A token bucket that refills continuously: `perMinute` requests a minute
 * on average, bursts up to `perMinute`. Time comes from the injected clock.
 */
export class RateLimiter {
  readonly perMinute: number;
  readonly #clock: Clock;
  #tokens: number;
  #lastMs: number;

  constructor(perMinute: number, clock: Clock) {
    if (!(perMinute > 0)) throw new RangeError(`perMinute must be > 0: got ${perMinute}`);
    this.perMinute = perMinute;
    this.#clock = clock;
    this.#tokens = perMinute;
    this.#lastMs = clock.now();
  }

  /** Takes one token; false when the bucket is empty (the request is refused). */
  tryTake(): boolean {
    const now = this.#clock.now();
    const elapsedMs = Math.max(0, now - this.#lastMs);
    this.#lastMs = now;
    this.#tokens = Math.min(this.perMinute, this.#tokens + (elapsedMs * this.perMinute) / 60_000);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Milliseconds until the next token. */
  retryAfterMs(): number {
    return Math.ceil(((1 - this.#tokens) * 60_000) / this.perMinute);
  }
}
