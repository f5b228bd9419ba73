import type { ConfigEntry } from "../../shared/proto/gen/pact/config/config.ts";
import { PactError } from "../../shared/errors/mod.ts";

/** Entries a live subscriber may have waiting before it is cut off. */
export const SUBSCRIBER_BACKLOG_MAX = 1024;

/**
 * The live half of a subscription: a bounded queue the journal pushes
 * committed entries into. A subscriber that falls more than the bound
 * behind is failed (at-least-once delivery: it resubscribes from its last
 * sequence) rather than letting the journal's memory grow.
 */
export class LiveQueue {
  readonly #backlogMax: number;
  #items: ConfigEntry[] = [];
  #wake: (() => void) | undefined;
  #error: PactError | undefined;
  #ended = false;

  constructor(backlogMax = SUBSCRIBER_BACKLOG_MAX) {
    this.#backlogMax = backlogMax;
  }

  /** Adds a committed entry; fails the queue when the backlog is full. */
  push(entry: ConfigEntry): void {
    if (this.#ended || this.#error) return;
    if (this.#items.length >= this.#backlogMax) {
      const resume = this.#items[0]!.sequence;
      this.#items = [];
      this.#error = new PactError(
        "RESOURCE_EXHAUSTED",
        `Subscriber fell more than ${this.#backlogMax} entries behind: resubscribe from sequence ${resume}`,
      );
    } else {
      this.#items.push(entry);
    }
    this.#notify();
  }

  /** Ends the queue normally; a waiting reader gets `undefined`. */
  end(): void {
    this.#ended = true;
    this.#notify();
  }

  /** Ends the queue with an error for the reader. */
  fail(error: PactError): void {
    this.#error = error;
    this.#notify();
  }

  /** Next entry, `undefined` once ended; throws the failure, if any. */
  async next(signal?: AbortSignal): Promise<ConfigEntry | undefined> {
    while (true) {
      const item = this.#items.shift();
      if (item) return item;
      if (this.#error) throw this.#error;
      if (this.#ended || signal?.aborted) return undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        signal?.addEventListener("abort", () => resolve(), { once: true });
      });
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
