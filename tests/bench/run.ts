/**
 * `deno task bench`: journal write throughput against a raw SQLite floor,
 * and CLI start-up wall time, all in one process run so that the ratios
 * compare figures taken under the same machine load.
 *
 * Flags: --quick (small counts, for smoke runs), --n=, --m=, --k=,
 * --sqlite-rows= (override single counts).
 */
import { JournalProcess } from "../harness/journal_process.ts";
import { ROOT } from "../harness/paths.ts";
import { cliCases, timeCli } from "./cli_timing.ts";
import { storedCommitBytes } from "./entries.ts";
import { concurrentAppends, sequentialAppends } from "./journal_load.ts";
import { type BenchResults, ratios, renderReport } from "./report.ts";
import { runSqliteBaseline } from "./sqlite_baseline.ts";

/** How much work each phase does. */
interface Counts {
  /** Raw SQLite rows, one per transaction. */
  readonly sqliteRows: number;
  /** Raw SQLite rows in the batched variant. */
  readonly sqliteBatchedRows: number;
  readonly sqliteBatchRows: number;
  /** Sequential journal appends (N). */
  readonly sequentialAppends: number;
  /** Concurrent journal appends in total (M), over `clients` clients. */
  readonly concurrentAppends: number;
  readonly clients: number;
  /** Timed runs per CLI command (K), after `cliWarmup` untimed ones. */
  readonly cliRuns: number;
  readonly cliWarmup: number;
}

const FULL: Counts = {
  sqliteRows: 5000,
  sqliteBatchedRows: 64 * 200,
  sqliteBatchRows: 64,
  sequentialAppends: 2000,
  concurrentAppends: 10_000,
  clients: 64,
  cliRuns: 20,
  cliWarmup: 2,
};

const QUICK: Counts = {
  ...FULL,
  sqliteRows: 200,
  sqliteBatchedRows: 64 * 20,
  sequentialAppends: 100,
  concurrentAppends: 640,
  cliRuns: 3,
};

/**
 * Where the figures go: a run with the full counts writes latest.json (the
 * run docs/performance.md quotes); --quick or overridden counts write
 * last-run.json (not committed), so a smoke run never replaces them.
 */
function resultsFile(args: readonly string[]): string {
  const name = args.length === 0 ? "latest.json" : "last-run.json";
  return `${ROOT}/tests/bench/results/${name}`;
}

/** Counts from the command line: --quick picks the small set; --n/--m/--k/--sqlite-rows override. */
export function parseCounts(args: readonly string[]): Counts {
  let counts = args.includes("--quick") ? QUICK : FULL;
  const keys: Record<string, keyof Counts> = {
    "--n": "sequentialAppends",
    "--m": "concurrentAppends",
    "--k": "cliRuns",
    "--sqlite-rows": "sqliteRows",
  };
  for (const arg of args) {
    if (arg === "--quick") continue;
    const [flag, value] = arg.split("=", 2);
    const key = keys[flag ?? ""];
    const n = Number(value);
    if (key === undefined || !Number.isInteger(n) || n < 1) {
      throw new Error(
        `Unknown or invalid argument: ${arg} (use --quick, --n=, --m=, --k=, --sqlite-rows=)`,
      );
    }
    counts = { ...counts, [key]: n };
  }
  return counts;
}

/** Runs every phase, cleaning up processes and temp dirs whatever happens. */
async function bench(counts: Counts): Promise<BenchResults> {
  // Disposed last-in first-out: journal, then client connections, then temp dir.
  await using cleanup = new AsyncDisposableStack();
  const tmp = await Deno.makeTempDir({ prefix: "pact-bench-" });
  cleanup.defer(() => Deno.remove(tmp, { recursive: true }));

  log(`raw sqlite: ${counts.sqliteRows} rows 1/tx, ${counts.sqliteBatchedRows} rows 64/tx`);
  const sqlite = runSqliteBaseline(
    tmp,
    storedCommitBytes(),
    counts.sqliteRows,
    counts.sqliteBatchedRows,
    counts.sqliteBatchRows,
  );

  const connections = cleanup.use(new DisposableStack());
  const journal = await JournalProcess.start();
  cleanup.defer(() => stopJournal(journal));
  try {
    return { sqlite, ...await journalPhases(journal, connections, counts, tmp) };
  } catch (err) {
    // Wait for the exit first: a crashed journal's last stderr lines say why.
    const status = await journal.stop();
    log(`journal exited (code ${status.code}, signal ${status.signal}); its log:\n${journal.log}`);
    throw err;
  }
}

/** The phases that need the running journal. */
async function journalPhases(
  journal: JournalProcess,
  connections: DisposableStack,
  counts: Counts,
  tmp: string,
): Promise<Omit<BenchResults, "sqlite">> {
  const target = {
    endpoint: journal.endpoint,
    httpUrl: journal.httpUrl,
    token: await journal.token(),
    connections,
  };
  log(`journal sequential: ${counts.sequentialAppends} appends`);
  const sequential = await sequentialAppends(target, counts.sequentialAppends);
  const { clients, concurrentAppends: total } = counts;
  log(`journal concurrent: ${total} appends, ${clients} clients on ${clients} connections`);
  const concurrent = await concurrentAppends(target, clients, total, "dedicated");
  log(`journal concurrent: ${total} appends, ${clients} JournalClients (one shared connection)`);
  const concurrentShared = await concurrentAppends(target, clients, total, "shared");

  log(`cli: ${counts.cliWarmup} warm-up + ${counts.cliRuns} timed runs per command, round-robin`);
  const home = `${tmp}/home`;
  await Deno.mkdir(home);
  const cases = cliCases(target.endpoint, target.token);
  const cli = await timeCli(cases, home, counts.cliWarmup, counts.cliRuns);
  return { sequential, concurrent, concurrentShared, cli };
}

/** Stops the journal (SIGTERM, as systemd does) and removes its data. */
async function stopJournal(journal: JournalProcess): Promise<void> {
  const status = await journal.stop();
  if (status.code !== 0) {
    throw new Error(`pact-journal exited with ${status.code} on SIGTERM:\n${journal.log}`);
  }
  await journal.dispose();
}

async function writeJson(file: string, counts: Counts, results: BenchResults): Promise<void> {
  const document = {
    date: new Date().toISOString(),
    deno: Deno.version,
    cpus: navigator.hardwareConcurrency,
    os: `${Deno.build.os}-${Deno.build.arch}`,
    counts,
    results,
    ratios: ratios(results),
  };
  await Deno.mkdir(`${ROOT}/tests/bench/results`, { recursive: true });
  await Deno.writeTextFile(file, `${JSON.stringify(document, null, 2)}\n`);
}

function log(message: string): void {
  console.error(`[bench] ${message}`);
}

async function main(): Promise<void> {
  const counts = parseCounts(Deno.args);
  log(`deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs`);
  const started = performance.now();
  const results = await bench(counts);
  console.log(renderReport(results));
  const file = resultsFile(Deno.args);
  await writeJson(file, counts, results);
  log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s; wrote ${file}`);
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    console.error("[bench] FAILED:", err);
    Deno.exit(1);
  }
}
