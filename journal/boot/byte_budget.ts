/**
 * A budget of bytes in flight, shared by the boot streams of one journal:
 * a stream reserves its overlay's size before sending it and gives it back
 * when the call is over. The HTTP/2 layer buffers whatever a handler writes
 * (it applies no backpressure), so without this a boot storm would hold
 * every node's copy of the overlay in memory at once.
 */
export class ByteBudget {
  readonly #capacity: number;
  #used = 0;
  /** Waiters in arrival order (first come, first served). */
  readonly #waiting: { bytes: number; grant: () => void }[] = [];

  constructor(capacity: number) {
    if (!(capacity > 0)) {
      throw new RangeError(`A byte budget needs a positive capacity, not ${capacity}`);
    }
    this.#capacity = capacity;
  }

  /** Bytes reserved now. */
  get used(): number {
    return this.#used;
  }

  /** Reservations waiting for room. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Resolves true once `bytes` are reserved, or false if `signal` aborts
   * first (nothing is then reserved). A reservation larger than the whole
   * budget is granted when nothing else is held, so it is never stuck.
   */
  reserve(bytes: number, signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    if (this.#waiting.length === 0 && this.#fits(bytes)) {
      this.#used += bytes;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const waiter = {
        bytes,
        grant: () => {
          signal.removeEventListener("abort", onAbort);
          resolve(true);
        },
      };
      const onAbort = () => {
        const index = this.#waiting.indexOf(waiter);
        if (index >= 0) this.#waiting.splice(index, 1);
        this.#grantWaiting();
        resolve(false);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  /** Gives back `bytes` reserved earlier and wakes the waiters that now fit. */
  release(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
    this.#grantWaiting();
  }

  #fits(bytes: number): boolean {
    return this.#used === 0 || this.#used + bytes <= this.#capacity;
  }

  #grantWaiting(): void {
    while (this.#waiting.length > 0 && this.#fits(this.#waiting[0]!.bytes)) {
      const waiter = this.#waiting.shift()!;
      this.#used += waiter.bytes;
      waiter.grant();
    }
  }
}
