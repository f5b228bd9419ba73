/**
 * Failover of the journal quorum: under a steady write load, with many
 * subscribed clients, SIGKILL the etcd leader and measure how long writes
 * stop and how long until every subscriber has an entry written after it.
 */
import type { ServiceError } from "@grpc/grpc-js";
import { JournalClient } from "../../cli/client/journal_client.ts";
import { GLOBAL, toProtoScope } from "../../shared/domain/scope.ts";
import type { ConfigEntry } from "../../shared/proto/gen/pact/config/config.ts";
import type { JournalQuorum } from "../harness/journal_quorum.ts";
import { DedicatedConnectionClient } from "./dedicated_client.ts";
import { commitEntry } from "./entries.ts";
import type { JournalTarget } from "./journal_load.ts";
import { type Percentiles, percentiles } from "./stats.ts";

/** How big the failover scenario is. */
export interface FailoverCounts {
  /** Subscribed clients, spread over the journals. */
  readonly subscribers: number;
  /** Writers appending back-to-back, spread over the journals. */
  readonly writers: number;
  /**
   * Milliseconds of steady load before the kill: the first half without
   * subscribers, the second half with all of them attached.
   */
  readonly steadyMs: number;
}

/** How a global entry reached every subscriber. */
export interface FanOut {
  /** Which journal (node id) acknowledged the append. */
  readonly journal: string;
  /** From sending the append to its acknowledgement (ms). */
  readonly ackMs: number;
  /** From sending the append to the last subscriber receiving it (ms). */
  readonly allMs: number;
  /** Per subscriber, from sending the append to its receipt (ms). */
  readonly latencyMs: Percentiles;
  /** The slowest receipt among the subscribers of each journal (node id -> ms from sending). */
  readonly maxByJournalMs: Readonly<Record<string, number>>;
  readonly received: number;
}

/** Appends of the steady load over a window of time. */
export interface SteadyLoad {
  readonly appendsPerSecond: number;
  readonly latencyMs: Percentiles;
}

/** The failover figures. Times "after the kill" are from just before the SIGKILL. */
export interface FailoverResult {
  readonly subscribers: number;
  readonly writers: number;
  readonly probeIntervalMs: number;
  /** Member id (= journal node id) whose etcd was the leader and was killed. */
  readonly killedMember: string;
  readonly leaderAfter: string;
  /** The steady load (writers and probes) before the subscribers attached. */
  readonly steadyWithoutSubscribers: SteadyLoad;
  /** The steady load with every subscriber attached, before the kill. */
  readonly steadyWithSubscribers: SteadyLoad;
  /** A global entry reaching every subscriber before the kill (baseline). */
  readonly fanOutBefore: FanOut;
  /** Kill to the first successful append sent after the kill, through any journal (ms). */
  readonly firstAppendAfterKillMs: number;
  /** Which journal (node id) answered that append. */
  readonly firstAppendJournal: string;
  /** Per journal (node id): kill to its first successful append sent after the kill (ms). */
  readonly firstAppendByJournalMs: Readonly<Record<string, number | null>>;
  /** Longest gap between two successful append acknowledgements around the kill (ms). */
  readonly writeStallMs: number;
  /** Appends that failed from the kill to the end of the load, by error. */
  readonly failedAppends: Readonly<Record<string, number>>;
  /**
   * Kill to the acknowledgement of the marker written after the failover,
   * through the journal that answered first (ms).
   */
  readonly markerAckAfterKillMs: number;
  /** Kill to the last subscriber receiving that marker (ms). */
  readonly allSubscribersAfterKillMs: number;
  /** The marker's fan-out, measured from its acknowledgement. */
  readonly fanOutAfter: FanOut;
  /** Subscriptions that ended (error or end of stream) and were resumed, by reason. */
  readonly resubscribes: Readonly<Record<string, number>>;
  /** Kill to every member healthy again in `pact cluster` (the journal restarts its etcd), ms. */
  readonly memberBackAfterKillMs: number | undefined;
}

const PROBE_INTERVAL_MS = 25;
const APPEND_TIMEOUT_SECONDS = 30;
const WAIT_LIMIT_MS = 60_000;

/** One append of the load: when it was sent and answered, and how. */
interface Op {
  readonly sentAt: number;
  readonly doneAt: number;
  readonly ok: boolean;
  readonly journal: number;
  readonly error?: string;
}

/** Runs the scenario on `quorum` (whose etcd leader gets killed). */
export async function failover(
  quorum: JournalQuorum,
  targets: readonly JournalTarget[],
  counts: FailoverCounts,
  log: (message: string) => void,
): Promise<FailoverResult> {
  await using stack = new AsyncDisposableStack();
  const journals = targets.length;
  const admin = targets.map((t) =>
    new JournalClient({ endpoint: t.endpoint, token: t.token, timeoutSeconds: 30 })
  );
  stack.defer(() => admin.forEach((c) => c.close()));
  const stop = new AbortController();

  // Steady load: writers back-to-back, plus a probe append every 25 ms
  // round-robin over the journals, so that appends keep being sent even
  // while every writer waits on one held up by the failover.
  const ops: Op[] = [];
  const writerClients = Array.from(
    { length: counts.writers + journals },
    (_, i) =>
      new DedicatedConnectionClient(
        targets[i % journals]!.endpoint,
        targets[i % journals]!.token,
        APPEND_TIMEOUT_SECONDS,
      ),
  );
  stack.defer(() => writerClients.forEach((c) => c.close()));
  const loadStop = new AbortController();
  const append = async (client: DedicatedConnectionClient, journal: number, node: string) => {
    const sentAt = performance.now();
    try {
      await client.appendEntry({ entry: commitEntry(node) });
      ops.push({ sentAt, doneAt: performance.now(), ok: true, journal });
    } catch (err) {
      const error = grpcErrorName(err);
      ops.push({ sentAt, doneAt: performance.now(), ok: false, journal, error });
    }
  };
  log(`failover: ${counts.writers} writers + probes every ${PROBE_INTERVAL_MS} ms`);
  const load = [
    ...Array.from({ length: counts.writers }, async (_, i) => {
      while (!loadStop.signal.aborted) {
        await append(writerClients[i]!, i % journals, `fo-load-${i}`);
        const last = ops.at(-1);
        if (last && !last.ok) await delay(50);
      }
    }),
    (async () => {
      const inFlight: Promise<void>[] = [];
      for (let i = 0; !loadStop.signal.aborted; i++) {
        const journal = i % journals;
        inFlight.push(append(writerClients[counts.writers + journal]!, journal, "fo-probe"));
        await delay(PROBE_INTERVAL_MS);
      }
      await Promise.all(inFlight);
    })(),
  ];
  stack.defer(async () => {
    loadStop.abort();
    await Promise.all(load);
  });
  // The load alone for half the steady time, then with the subscribers.
  const window = async () => {
    const start = performance.now();
    await delay(counts.steadyMs / 2);
    const done = ops.filter((o) => o.ok && o.sentAt >= start);
    return {
      appendsPerSecond: done.length / ((performance.now() - start) / 1000),
      latencyMs: percentiles(done.map((o) => o.doneAt - o.sentAt)),
    };
  };
  const withoutSubscribers = await window();

  // Subscribers: node-scoped subscriptions (as agents hold them), so they
  // get global entries but not the load's commits for other nodes.
  // They start at the head as it is now: the load's entries before it are not theirs anyway.
  const head = (await admin[0]!.getJournalStatus()).nextSequence;
  const subscribers: Subscriber[] = [];
  const fanOut = new FanOutTracker(subscribers);
  for (let i = 0; i < counts.subscribers; i++) {
    subscribers.push(new Subscriber(i, admin, head, fanOut));
  }
  log(`failover: ${counts.subscribers} subscribers over ${journals} journals`);
  const running = subscribers.map((s) => s.run(stop.signal));
  stack.defer(async () => {
    stop.abort();
    await Promise.all(running);
  });
  await waitFor(
    async () => (await subscriberCount(targets)) >= counts.subscribers,
    WAIT_LIMIT_MS,
    () => `subscribers did not all attach within ${WAIT_LIMIT_MS} ms`,
  );

  const withSubscribers = await window();

  log("failover: fan-out of a global entry before the kill");
  const fanOutBefore = await fanOut.measure(admin, 0, "before", quorum);

  const status = await admin[0]!.getClusterStatus();
  const leader = status.members.find((m) => m.isLeader);
  if (leader === undefined) throw new Error("failover: the quorum has no leader");
  const leaderIndex = quorum.members.findIndex((m) => m.id === leader.id);
  const etcdPid = await quorum.etcdPid(leaderIndex);
  log(`failover: SIGKILL etcd leader (member ${leader.id}, pid ${etcdPid})`);
  const killedAt = performance.now();
  Deno.kill(etcdPid, "SIGKILL");

  const firstOk = () =>
    ops.filter((o) => o.ok && o.sentAt >= killedAt).sort((a, b) => a.doneAt - b.doneAt)[0];
  await waitFor(
    () => Promise.resolve(firstOk() !== undefined),
    WAIT_LIMIT_MS,
    () => `no append succeeded within ${WAIT_LIMIT_MS} ms of the kill`,
  );
  const first = firstOk()!;
  log(`failover: first append after ${(first.doneAt - killedAt).toFixed(0)} ms; marker`);
  const fanOutAfter = await fanOut.measure(admin, first.journal, "after", quorum);
  const markerSentAt = fanOut.lastSentAt;
  const allReceivedAt = markerSentAt + fanOutAfter.allMs;

  // Load goes on until every journal has taken a write sent after the kill
  // (or 30 s), then the write stall around the kill.
  const firstByJournal = () =>
    quorum.members.map((_, j) =>
      ops.filter((o) => o.ok && o.journal === j && o.sentAt >= killedAt)
        .reduce((min, o) => Math.min(min, o.doneAt), Infinity)
    );
  await waitFor(
    () => Promise.resolve(firstByJournal().every(Number.isFinite)),
    30_000,
    () => "",
  ).catch(() => {});
  await delay(500);
  loadStop.abort();
  await Promise.all(load);
  const failedAppends: Record<string, number> = {};
  for (const op of ops) {
    if (!op.ok && op.sentAt >= killedAt - APPEND_TIMEOUT_SECONDS * 1000) {
      failedAppends[op.error!] = (failedAppends[op.error!] ?? 0) + 1;
    }
  }
  const acks = ops.filter((o) => o.ok).map((o) => o.doneAt).sort((a, b) => a - b);
  let writeStallMs = 0;
  for (let i = 1; i < acks.length; i++) {
    if (acks[i]! >= killedAt) writeStallMs = Math.max(writeStallMs, acks[i]! - acks[i - 1]!);
  }

  log("failover: waiting for the killed member to be healthy again");
  let memberBackAfterKillMs: number | undefined;
  let leaderAfter = "";
  try {
    await waitFor(
      async () => {
        const s = await admin[(leaderIndex + 1) % journals]!.getClusterStatus();
        leaderAfter = s.members.find((m) => m.isLeader)?.id ?? "";
        return s.members.length === quorum.members.length && s.members.every((m) => m.healthy);
      },
      WAIT_LIMIT_MS,
      () => "the killed member did not come back",
    );
    memberBackAfterKillMs = performance.now() - killedAt;
  } catch (err) {
    log(`failover: ${(err as Error).message}`);
  }

  const resubscribes: Record<string, number> = {};
  for (const s of subscribers) {
    for (const [reason, n] of s.resubscribes) {
      resubscribes[reason] = (resubscribes[reason] ?? 0) + n;
    }
  }
  return {
    subscribers: counts.subscribers,
    writers: counts.writers,
    probeIntervalMs: PROBE_INTERVAL_MS,
    killedMember: leader.id,
    leaderAfter,
    steadyWithoutSubscribers: withoutSubscribers,
    steadyWithSubscribers: withSubscribers,
    fanOutBefore,
    firstAppendAfterKillMs: first.doneAt - killedAt,
    firstAppendJournal: quorum.members[first.journal]!.id,
    firstAppendByJournalMs: Object.fromEntries(
      firstByJournal().map((t, j) => [
        quorum.members[j]!.id,
        Number.isFinite(t) ? t - killedAt : null,
      ]),
    ),
    writeStallMs,
    failedAppends,
    markerAckAfterKillMs: markerSentAt + fanOutAfter.ackMs - killedAt,
    allSubscribersAfterKillMs: allReceivedAt - killedAt,
    fanOutAfter,
    resubscribes,
    memberBackAfterKillMs,
  };
}

/** A global commit: every node subscription receives it. */
function markerEntry(label: string): ConfigEntry {
  return {
    ...commitEntry("fo-marker"),
    scope: toProtoScope(GLOBAL),
    message: `bench: failover marker (${label})`,
  };
}

/**
 * Appends `entry`, trying each journal in turn from `start` until one
 * acknowledges it; returns the index of the journal that did.
 */
async function appendAnywhere(
  clients: readonly JournalClient[],
  start: number,
  entry: ConfigEntry,
): Promise<number> {
  const giveUpAt = performance.now() + WAIT_LIMIT_MS;
  for (let i = start;; i++) {
    const index = i % clients.length;
    try {
      await clients[index]!.appendEntry({ entry });
      return index;
    } catch (err) {
      if (performance.now() > giveUpAt) throw err;
      await delay(50);
    }
  }
}

/** Records when each subscriber receives the current marker. */
class FanOutTracker {
  readonly #subscribers: readonly Subscriber[];
  #requestId = "";
  #received = new Map<number, { at: number; journal: number }>();
  #all: (() => void) | undefined;
  lastSentAt = 0;

  constructor(subscribers: readonly Subscriber[]) {
    this.#subscribers = subscribers;
  }

  /** Subscriber `index`, connected to journal `journal`, got `entry`. */
  onEntry(index: number, journal: number, entry: ConfigEntry, at: number): void {
    if (entry.requestId !== this.#requestId || this.#received.has(index)) return;
    this.#received.set(index, { at, journal });
    if (this.#received.size === this.#subscribers.length) this.#all?.();
  }

  /**
   * Writes a marker through journal `start` (or the next that takes it)
   * and waits until every subscriber has it.
   */
  async measure(
    clients: readonly JournalClient[],
    start: number,
    label: string,
    quorum: JournalQuorum,
  ): Promise<FanOut> {
    const entry = markerEntry(label);
    this.#received = new Map();
    this.#requestId = entry.requestId;
    const all = new Promise<void>((resolve) => (this.#all = resolve));
    const sentAt = performance.now();
    this.lastSentAt = sentAt;
    const journal = await appendAnywhere(clients, start, entry);
    const ackMs = performance.now() - sentAt;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, WAIT_LIMIT_MS)));
    await Promise.race([all, timeout]);
    clearTimeout(timer);
    const receipts = [...this.#received.values()];
    if (receipts.length === 0) {
      throw new Error(`no subscriber received the marker within ${WAIT_LIMIT_MS} ms`);
    }
    const maxByJournalMs: Record<string, number> = {};
    for (const r of receipts) {
      const id = quorum.members[r.journal]!.id;
      maxByJournalMs[id] = Math.max(maxByJournalMs[id] ?? 0, r.at - sentAt);
    }
    const times = receipts.map((r) => r.at - sentAt);
    return {
      journal: quorum.members[journal]!.id,
      ackMs,
      allMs: Math.max(...times),
      latencyMs: percentiles(times),
      maxByJournalMs,
      received: receipts.length,
    };
  }
}

/** One subscribed client: resumes from its last sequence on another journal after an error. */
class Subscriber {
  readonly resubscribes = new Map<string, number>();
  readonly #index: number;
  readonly #clients: readonly JournalClient[];
  readonly #tracker: FanOutTracker;
  #resumeFrom: number;

  constructor(
    index: number,
    clients: readonly JournalClient[],
    from: number,
    tracker: FanOutTracker,
  ) {
    this.#index = index;
    this.#clients = clients;
    this.#resumeFrom = from;
    this.#tracker = tracker;
  }

  async run(signal: AbortSignal): Promise<void> {
    const nodeId = `fo-sub-${String(this.#index).padStart(4, "0")}`;
    let journal = this.#index % this.#clients.length;
    while (!signal.aborted) {
      let reason = "end of stream";
      try {
        const updates = this.#clients[journal]!.subscribe(
          { nodeId, fromSequence: this.#resumeFrom },
          signal,
        );
        for await (const update of updates) {
          if (update.entry) {
            this.#resumeFrom = update.sequence + 1;
            this.#tracker.onEntry(this.#index, journal, update.entry, performance.now());
          } else {
            // A heartbeat carries the head: nothing before it is pending.
            this.#resumeFrom = Math.max(this.#resumeFrom, update.sequence);
          }
        }
      } catch (err) {
        reason = (err as { code?: string }).code ?? String(err);
      }
      if (signal.aborted) return;
      this.resubscribes.set(reason, (this.resubscribes.get(reason) ?? 0) + 1);
      journal = (journal + 1) % this.#clients.length;
      await delay(100 + Math.random() * 400);
    }
  }
}

/** Live subscriptions over every journal, from their /metrics. */
async function subscriberCount(targets: readonly JournalTarget[]): Promise<number> {
  let total = 0;
  for (const target of targets) {
    const text = await (await fetch(`${target.httpUrl}/metrics`)).text();
    const line = text.split("\n").find((l) => /^pact_journal_subscribers(\{[^}]*\})? /.test(l));
    total += line === undefined ? 0 : Number(line.split(" ").at(-1));
  }
  return total;
}

function grpcErrorName(err: unknown): string {
  const e = err as Partial<ServiceError>;
  const trailer = e.metadata?.get("pact-error-code")[0];
  return typeof trailer === "string" ? trailer : `grpc ${e.code ?? "?"}: ${e.details ?? err}`;
}

async function waitFor(
  check: () => Promise<boolean>,
  limitMs: number,
  message: () => string,
): Promise<void> {
  const giveUpAt = performance.now() + limitMs;
  while (!(await check().catch(() => false))) {
    if (performance.now() > giveUpAt) throw new Error(message());
    await delay(50);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
