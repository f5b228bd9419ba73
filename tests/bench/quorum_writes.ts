/**
 * The write path of a 3-journal quorum on etcd, beside raw etcd puts of the
 * same size against the same etcd cluster with the same client library.
 */
import { Buffer } from "node:buffer";
import type { Etcd3 } from "etcd3";
import { encodeRecordValue } from "../../journal/store/_etcd_codec.ts";
import { formatScope } from "../../shared/domain/scope.ts";
import { commitEntry, storedCommitBytes } from "./entries.ts";
import {
  type AppendPhaseResult,
  type JournalTarget,
  sequentialAppendsOver,
  share,
  spreadAppends,
} from "./journal_load.ts";
import { type PhaseResult, phaseResult } from "./stats.ts";

/** What the etcd members themselves counted over a phase. */
export interface EtcdView {
  /** Transactions the members applied (etcd_mvcc_txn_total on the leader's view, all keys). */
  readonly txns: number;
  /** Plain puts applied (etcd_mvcc_put_total). */
  readonly puts: number;
}

/** A journal phase on the quorum, with etcd's count of the transactions it cost. */
export interface QuorumAppendResult extends AppendPhaseResult {
  /** How many journals the clients were spread over. */
  readonly journals: number;
  readonly etcd: EtcdView | undefined;
}

/** The write-path figures. */
export interface QuorumWriteResults {
  /** Bytes of one etcd value: a stored commit record as the etcd store encodes it. */
  readonly valueBytes: number;
  readonly journalSequential: QuorumAppendResult;
  /** Clients spread over every journal: the journals' batches race for the head. */
  readonly journalConcurrent: QuorumAppendResult;
  /** The same clients all on one journal: one writer, no head conflicts. */
  readonly journalConcurrentOneJournal: QuorumAppendResult;
  readonly rawSequential: PhaseResult;
  readonly rawConcurrent: PhaseResult & { readonly clients: number };
}

/** How much work the write path does. */
export interface QuorumWriteCounts {
  readonly sequentialAppends: number;
  readonly concurrentAppends: number;
  readonly clients: number;
  readonly rawSequentialPuts: number;
  readonly rawConcurrentPuts: number;
}

const RAW_WARMUP_PUTS = 20;
const RAW_TIMEOUT_MS = 60_000;

/** Runs the journal and raw etcd write phases, one after the other. */
export async function quorumWrites(
  targets: readonly JournalTarget[],
  etcd: Etcd3,
  etcdMetricsUrls: readonly string[],
  counts: QuorumWriteCounts,
  log: (message: string) => void,
): Promise<QuorumWriteResults> {
  const withEtcd = async (
    journals: number,
    run: () => Promise<AppendPhaseResult>,
  ): Promise<QuorumAppendResult> => {
    const before = await etcdCounters(etcdMetricsUrls);
    const result = await run();
    const after = await etcdCounters(etcdMetricsUrls);
    const etcdView = before && after
      ? { txns: after.txns - before.txns, puts: after.puts - before.puts }
      : undefined;
    return { ...result, journals, etcd: etcdView };
  };
  const { clients } = counts;
  log(`quorum journal sequential: ${counts.sequentialAppends} appends through journal 1`);
  const journalSequential = await withEtcd(
    1,
    () => sequentialAppendsOver(targets, counts.sequentialAppends, "dedicated", "q-seq"),
  );
  log(
    `quorum journal concurrent: ${counts.concurrentAppends} appends, ${clients} connections over ${targets.length} journals`,
  );
  const journalConcurrent = await withEtcd(
    targets.length,
    () => spreadAppends(targets, clients, counts.concurrentAppends, "dedicated", "q-spread"),
  );
  log(
    `quorum journal concurrent: ${counts.concurrentAppends} appends, ${clients} connections to journal 1`,
  );
  const journalConcurrentOneJournal = await withEtcd(
    1,
    () =>
      spreadAppends(targets.slice(0, 1), clients, counts.concurrentAppends, "dedicated", "q-one"),
  );

  const value = Buffer.from(encodeRecordValue({
    sequence: 123_456,
    timestampMs: Date.now(),
    entryType: commitEntry("q-raw").entryType,
    scope: formatScope({ kind: "node", id: "bench-node-00" }),
    data: storedCommitBytes(),
  }));
  log(`raw etcd: ${counts.rawSequentialPuts} sequential puts of ${value.length} B`);
  const rawSequential = await rawPuts(etcd, value, 1, counts.rawSequentialPuts, "seq");
  log(`raw etcd: ${counts.rawConcurrentPuts} puts, ${clients} concurrent`);
  const rawConcurrent = await rawPuts(etcd, value, clients, counts.rawConcurrentPuts, "conc");
  return {
    valueBytes: value.length,
    journalSequential,
    journalConcurrent,
    journalConcurrentOneJournal,
    rawSequential,
    rawConcurrent: { ...rawConcurrent, clients },
  };
}

/**
 * `total` puts of `value` by `concurrency` loops, each awaiting its put
 * before the next; keys never repeat. Warm-up puts first.
 */
async function rawPuts(
  etcd: Etcd3,
  value: Buffer,
  concurrency: number,
  total: number,
  label: string,
): Promise<PhaseResult> {
  const key = (loop: number, i: number) => `pact-bench/raw/${label}/${loop}/${i}`;
  const put = (k: string) =>
    etcd.put(k).value(value).options({ deadline: Date.now() + RAW_TIMEOUT_MS }).exec();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, RAW_WARMUP_PUTS) }, (_, i) => put(key(-1, i))),
  );
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async (_, loop) => {
    const count = share(total, concurrency, loop);
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await put(key(loop, i));
      latencies.push(performance.now() - t0);
    }
  }));
  const result = phaseResult(total, performance.now() - started, latencies);
  await etcd.delete().prefix(`pact-bench/raw/${label}/`).exec();
  return result;
}

/**
 * etcd's own counters, from the member that answers first (every member
 * applies every transaction, so any member's count is the cluster's);
 * undefined when no member exposes them.
 */
async function etcdCounters(urls: readonly string[]): Promise<EtcdView | undefined> {
  for (const url of urls) {
    try {
      const response = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2_000) });
      const text = await response.text();
      const value = (name: string) => {
        const line = text.split("\n").find((l) => l.startsWith(`${name} `));
        return line === undefined ? NaN : Number(line.slice(name.length + 1));
      };
      const view = { txns: value("etcd_mvcc_txn_total"), puts: value("etcd_mvcc_put_total") };
      if (Number.isFinite(view.txns) && Number.isFinite(view.puts)) return view;
    } catch { /* try the next member */ }
  }
  return undefined;
}
