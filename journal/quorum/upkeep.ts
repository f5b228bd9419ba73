/**
 * Automatic etcd upkeep, so that operators never run etcdctl at 3 a.m.:
 * the leader's journal compacts superseded revisions, every journal
 * defragments its own member (one member at a time across the quorum,
 * since each does only its own, at its own jittered time), and a NOSPACE
 * alarm is cleared by compacting, defragmenting and disarming.
 */
import { getLogger } from "@logtape/logtape";
import type { Etcd3 } from "etcd3";
import type { EtcdSettings } from "../config.ts";
import type { EtcdTls } from "../store/etcd_store.ts";
import type { UpkeepOptions } from "../store/etcd_upkeep.ts";

const log = getLogger(["pact", "journal", "etcd", "upkeep"]);

/** Revisions kept behind the head when compacting (late watchers resume within them). */
export const KEEP_REVISIONS = 10_000;

export class Upkeep {
  readonly #client: Etcd3;
  readonly #endpoints: readonly string[];
  readonly #settings: EtcdSettings;
  readonly #memberName: string;
  /** Per-member calls connect with these options (TLS material). */
  readonly #options: UpkeepOptions;
  #timers: ReturnType<typeof setInterval>[] = [];
  #running: Promise<void> | undefined;
  #lastCompaction: Date | undefined;
  #lastDefrag: Date | undefined;

  constructor(
    client: Etcd3,
    endpoints: readonly string[],
    settings: EtcdSettings,
    memberName: string,
    tls?: EtcdTls,
  ) {
    this.#client = client;
    this.#endpoints = endpoints;
    this.#settings = settings;
    this.#memberName = memberName;
    this.#options = tls === undefined ? {} : { tls };
  }

  get lastCompaction(): Date | undefined {
    return this.#lastCompaction;
  }

  get lastDefrag(): Date | undefined {
    return this.#lastDefrag;
  }

  start(): void {
    const jitter = () =>
      Math.floor(Math.random() * 0.1 * this.#settings.compactionIntervalSeconds * 1000);
    this.#timers.push(
      setInterval(
        () => this.#once(() => this.compact()),
        this.#settings.compactionIntervalSeconds * 1000 + jitter(),
      ),
      setInterval(
        () => this.#once(() => this.defragmentOwn()),
        this.#settings.defragIntervalSeconds * 1000 + jitter(),
      ),
    );
  }

  stop(): void {
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
  }

  /** Compacts superseded revisions (leader's journal only) and clears a NOSPACE alarm. */
  async compact(): Promise<void> {
    const upkeep = await import("../store/etcd_upkeep.ts");
    if ((await upkeep.clearNoSpaceAlarm(this.#client, this.#endpoints, this.#options)).cleared) {
      log.warn("Cleared an etcd NOSPACE alarm (compacted, defragmented, disarmed)");
      this.#lastCompaction = this.#lastDefrag = new Date();
      return;
    }
    const status = await upkeep.clusterStatus(this.#client, this.#options);
    const leader = status.members.find((m) => m.isLeader);
    if (leader?.name !== this.#memberName) return;
    const { compactedTo } = await upkeep.compactSuperseded(
      this.#client,
      KEEP_REVISIONS,
      this.#options,
    );
    this.#lastCompaction = new Date();
    if (compactedTo !== undefined) {
      log.info("Compacted etcd revisions up to {revision}", { revision: compactedTo });
    }
  }

  /** Defragments this journal's own member. */
  async defragmentOwn(): Promise<void> {
    const upkeep = await import("../store/etcd_upkeep.ts");
    const [outcome] = await upkeep.defragment([this.#endpoints[0]!], this.#options);
    if (outcome && !outcome.ok) throw new Error(outcome.error);
    this.#lastDefrag = new Date();
    log.info("Defragmented etcd member {name}", { name: this.#memberName });
  }

  #once(task: () => Promise<void>): void {
    if (this.#running) return;
    this.#running = task()
      .catch((error) =>
        log.warn("etcd upkeep failed: {error}", { error: (error as Error).message })
      )
      .finally(() => (this.#running = undefined));
  }
}
