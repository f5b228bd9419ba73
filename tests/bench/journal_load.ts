/** Append load against a real `pact-journal` over gRPC, as the CLI sends it. */
import { JournalClient } from "../../cli/client/journal_client.ts";
import { type Appender, DedicatedConnectionClient } from "./dedicated_client.ts";
import { commitEntry } from "./entries.ts";
import { type PhaseResult, phaseResult } from "./stats.ts";

/** The journal under load and the token its clients present. */
export interface JournalTarget {
  readonly endpoint: string;
  /** Telemetry base URL, for /metrics. */
  readonly httpUrl: string;
  readonly token: string;
  /** Where clients are registered so that the run closes them at its end. */
  readonly connections: DisposableStack;
}

/** How the concurrent clients reach the journal. */
export type ConnectionMode = "dedicated" | "shared";

/** An append phase plus the journal's own view of it. */
export interface AppendPhaseResult extends PhaseResult, ServerView {
  readonly clients: number;
  /** "dedicated": one HTTP/2 connection per client; "shared": grpc-js pools them into one. */
  readonly connections: ConnectionMode;
}

/** Appends done per client before measuring, so connection setup and JIT warm-up stay out. */
const WARMUP_APPENDS = 20;
const TIMEOUT_SECONDS = 60;

/**
 * `count` appends from one client of `targets[0]`, each awaited before the
 * next, after warm-up appends; the server view sums every target's metrics
 * (a quorum's journals tail each other's writes but only count their own).
 */
export async function sequentialAppendsOver(
  targets: readonly JournalTarget[],
  count: number,
  mode: ConnectionMode,
  node: string,
): Promise<AppendPhaseResult> {
  const [client] = openClients(targets[0]!, 1, mode);
  await appendMany(client!, node, WARMUP_APPENDS, []);
  const result = await measured(targets, count, () => appendMany(client!, node, count, []));
  return { ...result, clients: 1, connections: mode };
}

/**
 * `total` appends over `clientCount` clients appending back-to-back, client
 * `i` connected to `targets[i % targets.length]`.
 */
export async function spreadAppends(
  targets: readonly JournalTarget[],
  clientCount: number,
  total: number,
  mode: ConnectionMode,
  prefix: string,
): Promise<AppendPhaseResult> {
  const clients = Array.from(
    { length: clientCount },
    (_, i) => openClients(targets[i % targets.length]!, 1, mode)[0]!,
  );
  const node = (i: number) => `${prefix}-${String(i).padStart(2, "0")}`;
  // One append each opens every connection before the clock starts.
  await Promise.all(clients.map((c, i) => appendMany(c, node(i), 1, [])));
  const result = await measured(targets, total, async () => {
    const latencies: number[] = [];
    await Promise.all(
      clients.map((c, i) => appendMany(c, node(i), share(total, clientCount, i), latencies)),
    );
    return latencies;
  });
  return { ...result, clients: clientCount, connections: mode };
}

/** `count` appends from one JournalClient, each awaited before the next. */
export function sequentialAppends(
  target: JournalTarget,
  count: number,
): Promise<AppendPhaseResult> {
  return sequentialAppendsOver([target], count, "shared", "bench-seq");
}

/** `total` appends spread over `clientCount` clients appending back-to-back. */
export function concurrentAppends(
  target: JournalTarget,
  clientCount: number,
  total: number,
  mode: ConnectionMode,
): Promise<AppendPhaseResult> {
  return spreadAppends([target], clientCount, total, mode, `bench-${mode}`);
}

/** `count` clients, closed only when `target.connections` is disposed. */
function openClients(target: JournalTarget, count: number, mode: ConnectionMode): Appender[] {
  return Array.from({ length: count }, () => {
    const client: Appender = mode === "dedicated"
      ? new DedicatedConnectionClient(target.endpoint, target.token, TIMEOUT_SECONDS)
      : new JournalClient({
        endpoint: target.endpoint,
        token: target.token,
        timeoutSeconds: TIMEOUT_SECONDS,
      });
    target.connections.defer(() => client.close());
    return client;
  });
}

/** Client `i`'s part of `total` appends, so the parts add up exactly. */
export function share(total: number, clients: number, i: number): number {
  return Math.floor(total / clients) + (i < total % clients ? 1 : 0);
}

/** Appends `count` commits for `node`, pushing each one's latency (ms) onto `latencies`. */
async function appendMany(
  client: Appender,
  node: string,
  count: number,
  latencies: number[],
): Promise<number[]> {
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await client.appendEntry({ entry: commitEntry(node) });
    latencies.push(performance.now() - started);
  }
  return latencies;
}

/** What the journal's own metrics say about a phase. */
interface ServerView {
  /** Mean entries per store write (pact_journal_append_batch_entries). */
  readonly meanBatchEntries: number;
  readonly storeWrites: number;
  /** Mean duration of one durable store write (pact_journal_store_append_seconds). */
  readonly meanStoreWriteMs: number;
  /** Mean AppendEntry handler time: auth, queueing, store write (pact_journal_grpc_request_seconds). */
  readonly meanServerAppendMs: number;
}

/** Times `run` and reads the journals' histograms (summed over `targets`) around it. */
async function measured(
  targets: readonly JournalTarget[],
  ops: number,
  run: () => Promise<number[]>,
): Promise<PhaseResult & ServerView> {
  const before = await scrapeAll(targets);
  const started = performance.now();
  const latencies = await run();
  const elapsedMs = performance.now() - started;
  const after = await scrapeAll(targets);
  const delta = (key: keyof Scrape) => after[key] - before[key];
  return {
    ...phaseResult(ops, elapsedMs, latencies),
    meanBatchEntries: delta("batchSum") / delta("batchCount"),
    storeWrites: delta("batchCount"),
    meanStoreWriteMs: (delta("storeSeconds") / delta("storeCount")) * 1000,
    meanServerAppendMs: (delta("rpcSeconds") / delta("rpcCount")) * 1000,
  };
}

/** Cumulative histogram sums and counts, as /metrics reports them. */
interface Scrape {
  readonly batchSum: number;
  readonly batchCount: number;
  readonly storeSeconds: number;
  readonly storeCount: number;
  readonly rpcSeconds: number;
  readonly rpcCount: number;
}

/** Every target's histograms, added up. */
async function scrapeAll(targets: readonly JournalTarget[]): Promise<Scrape> {
  const scrapes = await Promise.all(targets.map(scrape));
  const sum = (key: keyof Scrape) => scrapes.reduce((total, s) => total + s[key], 0);
  return {
    batchSum: sum("batchSum"),
    batchCount: sum("batchCount"),
    storeSeconds: sum("storeSeconds"),
    storeCount: sum("storeCount"),
    rpcSeconds: sum("rpcSeconds"),
    rpcCount: sum("rpcCount"),
  };
}

async function scrape(target: JournalTarget): Promise<Scrape> {
  const response = await fetch(`${target.httpUrl}/metrics`);
  if (!response.ok) throw new Error(`GET /metrics: HTTP ${response.status}`);
  const text = await response.text();
  const value = (series: string) => metricValue(text, series);
  const rpc = 'pact_journal_grpc_request_seconds_%s{method="AppendEntry"}';
  return {
    batchSum: value("pact_journal_append_batch_entries_sum"),
    batchCount: value("pact_journal_append_batch_entries_count"),
    storeSeconds: value("pact_journal_store_append_seconds_sum"),
    storeCount: value("pact_journal_store_append_seconds_count"),
    rpcSeconds: value(rpc.replace("%s", "sum")),
    rpcCount: value(rpc.replace("%s", "count")),
  };
}

/**
 * The value of one exact series (name plus labels) in Prometheus text
 * format; 0 for a labelled series not observed yet (its family is declared).
 */
function metricValue(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  if (line !== undefined) return Number(line.slice(series.length + 1));
  const family = /^(\w+?)(_sum|_count)?\{/.exec(series)?.[1];
  if (family !== undefined && text.includes(`# TYPE ${family} `)) return 0;
  throw new Error(`metric ${series} missing from /metrics`);
}
