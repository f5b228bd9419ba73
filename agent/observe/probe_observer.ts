/**
 * Periodic probes through the host port: sysctl values, mounts, kernel
 * modules, network links, services and packages. Each probe compares with
 * the previous one; the first probe (or `rebaseline`) sets the baseline and
 * reports nothing.
 */
import type { Clock } from "../../shared/clock/clock.ts";
import type { Host } from "../host/host.ts";
import { type Interval, realInterval } from "./file_observer.ts";
import type { Category, ObserverEvent, Source } from "./observer_event.ts";

/** Options of a ProbeObserver. */
export interface ProbeObserverOptions {
  readonly host: Host;
  readonly clock: Clock;
  readonly emit: (event: ObserverEvent) => void;
  /** Sysctl keys to follow (the declared ones). */
  readonly sysctlKeys: readonly string[];
  readonly intervalMs: number;
  /** False leaves links and routes out (`netlink_enabled = false`). */
  readonly network?: boolean;
  readonly interval?: Interval;
  /** Where a failing probe is reported. Default: console.error. */
  readonly onError?: (err: unknown) => void;
}

/** One probed dimension: key -> comparable description. */
type Snapshot = Map<string, string>;

interface Probe {
  readonly category: Category;
  readonly read: () => Promise<Snapshot>;
}

/** Polls the host and reports what changed between two probes. */
export class ProbeObserver {
  readonly #options: ProbeObserverOptions;
  readonly #probes: Probe[];
  readonly #last = new Map<Probe, Snapshot>();
  #stop: (() => void) | undefined;
  #running: Promise<number> = Promise.resolve(0);

  constructor(options: ProbeObserverOptions) {
    this.#options = options;
    const { host } = options;
    this.#probes = [
      { category: "kernel", read: () => this.#sysctl() },
      {
        category: "mount",
        read: async () =>
          new Map(
            (await host.mounts.list()).map((m) => [
              m.mountPoint,
              `${m.fsType}:${m.source} (${m.options})`,
            ]),
          ),
      },
      {
        category: "kernel",
        read: async () =>
          new Map((await host.modules.list()).map((m) => [`module:${m.name}`, "loaded"])),
      },
      {
        category: "service",
        read: async () => new Map((await host.services.list()).map((s) => [s.name, s.state])),
      },
      {
        category: "package",
        read: async () => new Map((await host.packages.list()).map((p) => [p.name, p.version])),
      },
    ];
    if (options.network ?? true) {
      this.#probes.push({
        category: "network",
        read: async () =>
          new Map(
            (await host.network.links()).map((l) => [
              l.name,
              `${l.up ? "up" : "down"} mtu ${l.mtu} ${l.addresses.join(",")}`.trim(),
            ]),
          ),
      });
    }
  }

  /** Takes the baseline, then probes every `intervalMs`. */
  async start(): Promise<void> {
    await this.rebaseline();
    this.#stop = (this.#options.interval ?? realInterval)(() => {
      void this.probe();
    }, this.#options.intervalMs);
  }

  /** Stops the timer and waits for a running probe. */
  async stop(): Promise<void> {
    this.#stop?.();
    await this.#running;
  }

  /**
   * Takes the current state as the baseline (after the agent changed the
   * node itself). Queued behind a running probe, so a probe that read the
   * node before the agent's write cannot overwrite the new baseline.
   */
  rebaseline(): Promise<void> {
    return this.#serial(async () => {
      for (const probe of this.#probes) {
        const snapshot = await this.#read(probe);
        if (snapshot !== undefined) this.#last.set(probe, snapshot);
      }
      return 0;
    }).then(() => undefined);
  }

  /**
   * Probes once (only `category` when given) and reports differences with
   * `source`; returns how many events it emitted.
   */
  probe(category?: Category, source: Source = "probe"): Promise<number> {
    return this.#serial(async () => {
      let count = 0;
      for (const probe of this.#probes) {
        if (category !== undefined && probe.category !== category) continue;
        const now = await this.#read(probe);
        if (now === undefined) continue;
        const before = this.#last.get(probe);
        this.#last.set(probe, now);
        if (before === undefined) continue;
        for (const [key, detail] of diff(before, now)) {
          this.#options.emit({
            category: probe.category,
            key,
            detail,
            source,
            atMs: this.#options.clock.now(),
          });
          count++;
        }
      }
      return count;
    });
  }

  /** Runs probes and rebaselines one at a time, in call order. */
  #serial(task: () => Promise<number>): Promise<number> {
    const run = this.#running.then(task);
    this.#running = run.catch(() => 0);
    return run;
  }

  async #read(probe: Probe): Promise<Snapshot | undefined> {
    try {
      return await probe.read();
    } catch (err) {
      (this.#options.onError ?? console.error)(err);
      return undefined;
    }
  }

  async #sysctl(): Promise<Snapshot> {
    const snapshot: Snapshot = new Map();
    for (const key of this.#options.sysctlKeys) {
      const value = await this.#options.host.sysctl.get(key);
      if (value !== undefined) snapshot.set(key, value);
    }
    return snapshot;
  }
}

/** Keys added, removed or changed between two snapshots, with a human detail. */
function diff(before: Snapshot, after: Snapshot): [string, string][] {
  const changes: [string, string][] = [];
  for (const [key, value] of after) {
    const old = before.get(key);
    if (old === undefined) changes.push([key, `added: ${JSON.stringify(value)}`]);
    else if (old !== value) {
      changes.push([key, `${JSON.stringify(old)} -> ${JSON.stringify(value)}`]);
    }
  }
  for (const [key, value] of before) {
    if (!after.has(key)) changes.push([key, `removed (was ${JSON.stringify(value)})`]);
  }
  return changes;
}
