/** The benchmark's human-readable table. */
import { CLI_TARGET_MS, type CliTiming } from "./cli_timing.ts";
import type { AppendPhaseResult } from "./journal_load.ts";
import type { SqliteResults } from "./sqlite_baseline.ts";
import type { QuorumResults } from "./quorum_bench.ts";
import { type QuorumRatios, quorumRatios, renderQuorum } from "./quorum_report.ts";
import type { PhaseResult } from "./stats.ts";
import { fixed, table } from "./table.ts";

/** What the single-node phases measured (SQLite floor, one journal, CLI). */
export interface LocalResults {
  readonly sqlite: SqliteResults;
  readonly sequential: AppendPhaseResult;
  /** Clients on their own connections. */
  readonly concurrent: AppendPhaseResult;
  /** JournalClients, which grpc-js multiplexes over one connection. */
  readonly concurrentShared: AppendPhaseResult;
  readonly cli: readonly CliTiming[];
}

/** Everything one run measured: the single-node phases and/or the quorum's. */
export type BenchResults = Partial<LocalResults> & { readonly quorum?: QuorumResults };

/** The single-node results, when that part ran. */
export function localOf(r: BenchResults): LocalResults | undefined {
  const { sqlite, sequential, concurrent, concurrentShared, cli } = r;
  return sqlite && sequential && concurrent && concurrentShared && cli
    ? { sqlite, sequential, concurrent, concurrentShared, cli }
    : undefined;
}

/** Throughput ratios between phases. */
export interface Ratios {
  readonly sequentialVsRawSqlite: number;
  readonly concurrentVsSequential: number;
  readonly concurrentVsRawSqlite: number;
  readonly concurrentSharedVsSequential: number;
}

/** Every ratio the run's results allow. */
export function allRatios(r: BenchResults): Partial<Ratios> & { quorum?: QuorumRatios } {
  const local = localOf(r);
  return {
    ...(local ? ratios(local) : {}),
    ...(r.quorum ? { quorum: quorumRatios(r.quorum, local) } : {}),
  };
}

/** The ratios the report quotes for the single-node phases. */
export function ratios(r: LocalResults): Ratios {
  const raw = r.sqlite.singleRow.opsPerSecond;
  return {
    sequentialVsRawSqlite: r.sequential.opsPerSecond / raw,
    concurrentVsSequential: r.concurrent.opsPerSecond / r.sequential.opsPerSecond,
    concurrentVsRawSqlite: r.concurrent.opsPerSecond / raw,
    concurrentSharedVsSequential: r.concurrentShared.opsPerSecond / r.sequential.opsPerSecond,
  };
}

/** Renders the results as aligned plain-text tables. */
export function renderReport(r: BenchResults): string {
  const local = localOf(r);
  return [
    ...(local ? [renderLocal(local)] : []),
    ...(r.quorum ? [renderQuorum(r.quorum, local)] : []),
  ].join("\n\n");
}

function renderLocal(r: LocalResults): string {
  const x = ratios(r);
  return [
    `Writes (payload ${r.sqlite.payloadBytes} B per entry)`,
    table(["phase", "ops", "ops/s", "p50 ms", "p99 ms", "mean batch", "srv ms", "store ms"], [
      writeRow("raw sqlite, 1 row/tx", r.sqlite.singleRow, "1"),
      writeRow(
        `raw sqlite, ${r.sqlite.batched.batchRows} rows/tx (latency per tx)`,
        r.sqlite.batched,
        String(r.sqlite.batched.batchRows),
      ),
      writeRow("journal sequential, 1 client", r.sequential, fixed(r.sequential.meanBatchEntries)),
      writeRow(
        `journal concurrent, ${r.concurrent.clients} clients / ${r.concurrent.clients} conns`,
        r.concurrent,
        fixed(r.concurrent.meanBatchEntries),
      ),
      writeRow(
        `journal concurrent, ${r.concurrentShared.clients} JournalClients / 1 conn`,
        r.concurrentShared,
        fixed(r.concurrentShared.meanBatchEntries),
      ),
    ]),
    "(srv ms: mean AppendEntry time inside the journal; store ms: mean durable store write;",
    " both from the journal's /metrics over the phase)",
    "",
    "Ratios (throughput)",
    table(["ratio", "value"], [
      ["journal sequential / raw sqlite 1 row/tx", `${fixed(x.sequentialVsRawSqlite)}x`],
      ["journal concurrent / journal sequential", `${fixed(x.concurrentVsSequential)}x`],
      ["journal concurrent / raw sqlite 1 row/tx", `${fixed(x.concurrentVsRawSqlite)}x`],
      [
        "journal concurrent 1 conn / journal sequential",
        `${fixed(x.concurrentSharedVsSequential)}x`,
      ],
    ]),
    "",
    `CLI wall time (target ${CLI_TARGET_MS} ms)`,
    table(
      ["command", "runs", "median ms", "p90 ms", "min ms", "max ms", "median <= target"],
      r.cli.map((c) => [
        c.label,
        String(c.runs),
        fixed(c.medianMs, 1),
        fixed(c.p90Ms, 1),
        fixed(c.minMs, 1),
        fixed(c.maxMs, 1),
        c.label.startsWith("pact") ? (c.medianMs <= CLI_TARGET_MS ? "yes" : "NO") : "-",
      ]),
    ),
  ].join("\n");
}

/** A table row; the server columns only for journal phases. */
function writeRow(label: string, p: PhaseResult | AppendPhaseResult, batch: string): string[] {
  const server = "meanServerAppendMs" in p
    ? [fixed(p.meanServerAppendMs), fixed(p.meanStoreWriteMs)]
    : ["-", "-"];
  return [
    label,
    String(p.ops),
    fixed(p.opsPerSecond, 0),
    fixed(p.latencyMs.p50),
    fixed(p.latencyMs.p99),
    batch,
    ...server,
  ];
}
