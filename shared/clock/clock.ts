/** Source of wall-clock time. Only `main.ts` files wire the system clock. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** The real clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  #nowMs: number;

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#nowMs = startMs;
  }

  now(): number {
    return this.#nowMs;
  }

  /** Moves the clock forward by `ms` milliseconds. */
  advance(ms: number): void {
    if (ms < 0) throw new RangeError(`Cannot move a clock backwards: ${ms} ms`);
    this.#nowMs += ms;
  }

  /** Sets the clock to an absolute time. */
  set(ms: number): void {
    this.#nowMs = ms;
  }
}
