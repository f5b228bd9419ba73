/** Collects supervisor events and lets a test wait for them. */
import type { ServiceEvent } from "../events.ts";

type Match = Partial<Pick<ServiceEvent, "service" | "action">>;

/** Every event in arrival order, with waits bounded by a timeout. */
export class EventLog {
  readonly events: ServiceEvent[] = [];
  #wake: (() => void)[] = [];

  /** The sink to pass as `onEvent`. */
  readonly sink = (event: ServiceEvent): void => {
    this.events.push(event);
    const waiting = this.#wake;
    this.#wake = [];
    for (const wake of waiting) wake();
  };

  /** Events matching `match`. */
  matching(match: Match): ServiceEvent[] {
    return this.events.filter((e) =>
      (match.service === undefined || e.service === match.service) &&
      (match.action === undefined || e.action === match.action)
    );
  }

  /** "service:action" of every event, for order assertions. */
  trace(): string[] {
    return this.events.map((e) => `${e.service}:${e.action}`);
  }

  /** Resolves with the `count`-th event matching `match`, failing after `timeoutMs`. */
  async waitFor(match: Match, count = 1, timeoutMs = 15_000): Promise<ServiceEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.matching(match)[count - 1];
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `No event #${count} ${JSON.stringify(match)} within ${timeoutMs} ms; saw ${
            this.trace().join(", ")
          }`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake.push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }
}
