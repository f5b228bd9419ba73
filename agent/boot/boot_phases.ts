/**
 * Runs the boot phases strictly in order, timing each. A phase returns a
 * one-line detail; one that throws ends the boot: it is recorded as failed
 * and no later phase runs (reference PB3). The phases become the BootRecord
 * that the agent journals and `pact status <node>` shows.
 */
import type { BootPhase, BootRecord } from "../../shared/proto/gen/pact/config/config.ts";

/** The phases, in the order they run. */
export const BOOT_PHASES = [
  "load_config",
  "identity",
  "pull_config",
  "apply_config",
  "start_services",
  "capability",
  "ready",
] as const;

/** One phase's name. */
export type PhaseName = typeof BOOT_PHASES[number];

/** A boot that stopped at a failed phase; `record` holds the phases that ran. */
export class BootFailed extends Error {
  readonly phase: PhaseName;
  readonly record: BootRecord;

  constructor(phase: PhaseName, record: BootRecord, cause: unknown) {
    super(`Boot failed in phase ${phase}: ${(cause as Error).message ?? String(cause)}`, { cause });
    this.name = "BootFailed";
    this.phase = phase;
    this.record = record;
  }
}

/** Times and records phases; `now` is a monotonic clock in ms. */
export class PhaseRunner {
  readonly #phases: BootPhase[] = [];
  readonly #now: () => number;
  readonly #startedMs: number;
  readonly #onPhase: (phase: BootPhase) => void;
  #next = 0;
  fromCache = false;
  overlayVersion = 0;

  /** `startedMs` is when the agent started (so `total_ms` includes the runtime's own start). */
  constructor(now: () => number, onPhase: (phase: BootPhase) => void, startedMs = now()) {
    this.#now = now;
    this.#startedMs = startedMs;
    this.#onPhase = onPhase;
  }

  /** Runs `name`, which must be the next phase of BOOT_PHASES; its result is the detail. */
  async run<T>(
    name: PhaseName,
    body: () => Promise<{ value: T; detail: string }>,
  ): Promise<T> {
    const expected = BOOT_PHASES[this.#next];
    if (name !== expected) {
      throw new TypeError(`Boot phase ${name} out of order: expected ${expected ?? "none"}`);
    }
    this.#next++;
    const started = this.#now();
    try {
      const { value, detail } = await body();
      this.#record({ name, durationMs: this.#elapsed(started), ok: true, detail });
      return value;
    } catch (err) {
      this.#record({
        name,
        durationMs: this.#elapsed(started),
        ok: false,
        detail: (err as Error).message ?? String(err),
      });
      throw new BootFailed(name, this.record(), err);
    }
  }

  /** The record so far. */
  record(): BootRecord {
    return {
      phases: [...this.#phases],
      fromCache: this.fromCache,
      totalMs: this.#elapsed(this.#startedMs),
      overlayVersion: this.overlayVersion,
      // The shell server starts after the boot; it journals its address itself.
      shellAddress: "",
    };
  }

  #record(phase: BootPhase): void {
    this.#phases.push(phase);
    this.#onPhase(phase);
  }

  #elapsed(fromMs: number): number {
    return Math.max(0, Math.round(this.#now() - fromMs));
  }
}
