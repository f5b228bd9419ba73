/**
 * The supervisor's source of delays (restart backoff, health-check intervals,
 * stop grace periods). Tests use ManualTimers and move time by hand, so
 * backoff timing is checked exactly and without sleeping.
 */
import { type Clock, ManualClock, systemClock } from "../../shared/clock/clock.ts";

/** Schedules callbacks; `after` returns a function that cancels the callback. */
export interface Timers {
  readonly clock: Clock;
  after(delayMs: number, callback: () => void): () => void;
}

/** Timers backed by `setTimeout` and the system clock. */
export const realTimers: Timers = {
  clock: systemClock,
  after(delayMs, callback) {
    const id = setTimeout(callback, delayMs);
    return () => clearTimeout(id);
  },
};

interface Pending {
  readonly id: number;
  readonly dueMs: number;
  readonly callback: () => void;
}

/** Timers driven by a ManualClock: nothing fires until `advance` passes its due time. */
export class ManualTimers implements Timers {
  readonly clock: ManualClock;
  #pending: Pending[] = [];
  #nextId = 0;

  constructor(clock = new ManualClock()) {
    this.clock = clock;
  }

  after(delayMs: number, callback: () => void): () => void {
    if (!(delayMs >= 0)) throw new RangeError(`Cannot schedule a negative delay: ${delayMs} ms`);
    const entry = { id: this.#nextId++, dueMs: this.clock.now() + delayMs, callback };
    this.#pending.push(entry);
    return () => {
      this.#pending = this.#pending.filter((p) => p.id !== entry.id);
    };
  }

  /** Delays still pending, relative to now, soonest first. */
  pendingDelaysMs(): number[] {
    return this.#pending.map((p) => p.dueMs - this.clock.now()).sort((a, b) => a - b);
  }

  /** Moves time forward by `ms`, firing every callback that falls due, in due order. */
  advance(ms: number): void {
    const endMs = this.clock.now() + ms;
    for (;;) {
      const due = this.#pending.filter((p) => p.dueMs <= endMs)
        .sort((a, b) => a.dueMs - b.dueMs || a.id - b.id)[0];
      if (due === undefined) break;
      this.#pending = this.#pending.filter((p) => p.id !== due.id);
      this.clock.set(due.dueMs);
      due.callback();
    }
    this.clock.set(endMs);
  }
}
