/** The benchmark's human-readable table. */
import { CLI_TARGET_MS, type CliTiming } from "./cli_timing.ts";
import type { AppendPhaseResult } from "./journal_load.ts";
import type { SqliteResults } from "./sqlite_baseline.ts";
import type { PhaseResult } from "./stats.ts";

/** Everything one run measured. */
export interface BenchResults {
  readonly sqlite: SqliteResults;
  readonly sequential: AppendPhaseResult;
  /** Clients on their own connections. */
  readonly concurrent: AppendPhaseResult;
  /** JournalClients, which grpc-js multiplexes over one connection. */
  readonly concurrentShared: AppendPhaseResult;
  readonly cli: readonly CliTiming[];
}

/** Throughput ratios between phases. */
export interface Ratios {
  readonly sequentialVsRawSqlite: number;
  readonly concurrentVsSequential: number;
  readonly concurrentVsRawSqlite: number;
  readonly concurrentSharedVsSequential: number;
}

/** The ratios the report quotes. */
export function ratios(r: BenchResults): Ratios {
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

function fixed(value: number, digits = 2): string {
  return value.toFixed(digits);
}

/** Left-aligns the first column and right-aligns the rest. */
function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join("  ");
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(header), rule, ...rows.map(line)].join("\n");
}
