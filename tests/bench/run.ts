/**
 * `deno task bench`: journal write throughput against a raw SQLite floor,
 * CLI start-up wall time, and the journal quorum on etcd (write path beside
 * raw etcd, boot storm beside etcd serving the same bytes, failover of the
 * etcd leader), all in one process run so that the ratios compare figures
 * taken under the same machine load.
 *
 * Flags: --quick (small counts, for smoke runs); --phases=local,quorum-writes,
 * boot,failover (default all), --quorum (the quorum phases only),
 * --no-quorum (the single-node phases only); --phases=agent-boot (agent start → ready,
 * --agent-boot-runs=N); --phases=policy (policy decision latency, built-in and with OPA);
 * --phases=enroll (enrollments/s and mTLS handshakes/s, openssl s_server as the ceiling);
 * --phases=exec-fanout (`pact exec --vcluster` on 1, 100 and 1,000 simulated nodes beside the
 * local floor of as many `hostname` runs);
 * --n=, --m=, --k=,
 * --sqlite-rows=, --boot-agents=1000,10000, --boot-variants=journal-1,..., --subscribers=
 * (override counts).
 */
import { JournalProcess } from "../harness/journal_process.ts";
import { agentBootBench, type AgentBootResults, renderAgentBoot } from "./agent_boot.ts";
import {
  POLICY_FULL,
  POLICY_QUICK,
  policyBench,
  type PolicyResults,
  renderPolicy,
} from "./policy_decision.ts";
import {
  ENROLL_FULL,
  ENROLL_QUICK,
  enrollmentBench,
  type EnrollResults,
  renderEnrollment,
} from "./enrollment.ts";
import { BOOT_VARIANTS, type BootVariant } from "./boot_storm.ts";
import {
  EXEC_FANOUT_FULL,
  EXEC_FANOUT_QUICK,
  execFanoutBench,
  type ExecFanoutResults,
  renderExecFanout,
} from "./exec_fanout.ts";
import { etcdAvailable } from "../harness/journal_quorum.ts";
import { ROOT } from "../harness/paths.ts";
import { cliCases, timeCli } from "./cli_timing.ts";
import { storedCommitBytes } from "./entries.ts";
import { concurrentAppends, sequentialAppends } from "./journal_load.ts";
import {
  QUORUM_PHASES,
  type QuorumCounts,
  type QuorumPhase,
  quorumPhases,
  type StartedQuorum,
  startQuorum,
} from "./quorum_bench.ts";
import { allRatios, type BenchResults, type LocalResults, renderReport } from "./report.ts";
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
  /** The quorum phases. */
  readonly quorum: QuorumCounts;
}

const QUORUM_FULL: QuorumCounts = {
  writes: {
    sequentialAppends: 500,
    concurrentAppends: 5000,
    clients: 64,
    rawSequentialPuts: 500,
    rawConcurrentPuts: 5000,
  },
  boot: {
    agents: [1000, 10_000],
    agentsPerChannel: 100,
    agentsPerProcess: 5000,
    overlayBytes: 150_000,
    deadlineMs: 40_000,
  },
  failover: { subscribers: 1000, writers: 8, steadyMs: 3000 },
};

const QUORUM_QUICK: QuorumCounts = {
  writes: {
    sequentialAppends: 30,
    concurrentAppends: 256,
    clients: 64,
    rawSequentialPuts: 30,
    rawConcurrentPuts: 256,
  },
  boot: {
    ...QUORUM_FULL.boot,
    agents: [100],
    variants: ["journal-1", "etcd-1"],
    deadlineMs: 20_000,
  },
  failover: { subscribers: 100, writers: 4, steadyMs: 300 },
};

const FULL: Counts = {
  sqliteRows: 5000,
  sqliteBatchedRows: 64 * 200,
  sqliteBatchRows: 64,
  sequentialAppends: 2000,
  concurrentAppends: 10_000,
  clients: 64,
  cliRuns: 20,
  cliWarmup: 2,
  quorum: QUORUM_FULL,
};

const QUICK: Counts = {
  ...FULL,
  sqliteRows: 200,
  sqliteBatchedRows: 64 * 20,
  sequentialAppends: 100,
  concurrentAppends: 640,
  cliRuns: 3,
  quorum: QUORUM_QUICK,
};

/** Every phase: the single-node ones ("local"), the quorum's, and the agent's boot. */
type Phase = "local" | QuorumPhase | "agent-boot" | "policy" | "enroll" | "exec-fanout";
const PHASES: readonly Phase[] = [
  "local",
  ...QUORUM_PHASES,
  "agent-boot",
  "policy",
  "enroll",
  "exec-fanout",
];
/** Agent boots timed by the agent-boot phase (--agent-boot-runs=N overrides). */
const AGENT_BOOT_RUNS = 20;

/** The phases to run: --phases=, or --quorum / --no-quorum; default all. */
export function parsePhases(args: readonly string[]): ReadonlySet<Phase> {
  let phases = new Set<Phase>(PHASES);
  for (const arg of args) {
    if (arg === "--quorum") phases = new Set(QUORUM_PHASES);
    else if (arg === "--no-quorum") phases = new Set(["local"]);
    else if (arg.startsWith("--phases=")) {
      const names = arg.slice("--phases=".length).split(",").filter((n) => n !== "");
      const unknown = names.filter((n) => !PHASES.includes(n as Phase));
      if (names.length === 0 || unknown.length > 0) {
        throw new Error(`Unknown phase in ${arg} (use ${PHASES.join(", ")})`);
      }
      phases = new Set(names as Phase[]);
    }
  }
  return phases;
}

/**
 * Where the figures go: a run with the full counts writes latest.json (the
 * run docs/performance.md quotes); --quick or overridden counts write
 * last-run.json (not committed), so a smoke run never replaces them.
 */
function resultsFile(args: readonly string[]): string {
  const name = args.length === 0 ? "latest.json" : "last-run.json";
  return `${ROOT}/tests/bench/results/${name}`;
}

/**
 * Counts from the command line: --quick picks the small set; --n/--m/--k/
 * --sqlite-rows/--boot-agents/--subscribers override single counts. Phase
 * flags are left to parsePhases.
 */
export function parseCounts(args: readonly string[]): Counts {
  let counts = args.includes("--quick") ? QUICK : FULL;
  const keys: Record<string, keyof Counts> = {
    "--n": "sequentialAppends",
    "--m": "concurrentAppends",
    "--k": "cliRuns",
    "--sqlite-rows": "sqliteRows",
  };
  for (const arg of args) {
    if (arg === "--quick" || arg === "--quorum" || arg === "--no-quorum") continue;
    if (arg.startsWith("--phases=") || arg.startsWith("--agent-boot-runs=")) continue;
    const [flag, value] = arg.split("=", 2);
    if (flag === "--boot-variants") {
      counts = withBootVariants(counts, arg, value ?? "");
      continue;
    }
    const numbers = (value ?? "").split(",").map(Number);
    if (numbers.some((n) => !Number.isInteger(n) || n < 1)) throw invalid(arg);
    if (flag === "--boot-agents") {
      const boot = { ...counts.quorum.boot, agents: numbers };
      counts = { ...counts, quorum: { ...counts.quorum, boot } };
      continue;
    }
    if (numbers.length !== 1) throw invalid(arg);
    if (flag === "--subscribers") {
      const failover = { ...counts.quorum.failover, subscribers: numbers[0]! };
      counts = { ...counts, quorum: { ...counts.quorum, failover } };
      continue;
    }
    const key = keys[flag ?? ""];
    if (key === undefined) throw invalid(arg);
    counts = { ...counts, [key]: numbers[0]! };
  }
  return counts;
}

/** `counts` with the boot storms `value` names (comma-separated BootVariants). */
function withBootVariants(counts: Counts, arg: string, value: string): Counts {
  const variants = value.split(",") as BootVariant[];
  if (variants.some((v) => !BOOT_VARIANTS.includes(v))) {
    throw new Error(`Unknown boot variant in ${arg} (use ${BOOT_VARIANTS.join(", ")})`);
  }
  return { ...counts, quorum: { ...counts.quorum, boot: { ...counts.quorum.boot, variants } } };
}

function invalid(arg: string): Error {
  return new Error(
    `Unknown or invalid argument: ${arg} (use --quick, --phases=, --quorum, --no-quorum, ` +
      "--n=, --m=, --k=, --sqlite-rows=, --boot-agents=, --boot-variants=, --subscribers=)",
  );
}

/**
 * Runs the selected phases, cleaning up processes and temp dirs whatever
 * happens. A quick run forms the quorum while the single-node phases run
 * (forming is mostly waiting for etcd members to join), to stay short; a
 * full run keeps them apart so that neither disturbs the other's figures.
 */
async function bench(
  counts: Counts,
  phases: ReadonlySet<Phase>,
  quick: boolean,
): Promise<
  BenchResults & {
    agentBoot?: AgentBootResults;
    policy?: PolicyResults;
    enroll?: EnrollResults;
    execFanout?: ExecFanoutResults;
  }
> {
  const execFanout = phases.has("exec-fanout")
    ? await execFanoutBench(quick ? EXEC_FANOUT_QUICK : EXEC_FANOUT_FULL, log)
    : undefined;
  const enroll = phases.has("enroll")
    ? await enrollmentBench(quick ? ENROLL_QUICK : ENROLL_FULL, log)
    : undefined;
  const journal = await journalBench(counts, phases, quick);
  const results = {
    ...journal,
    ...(enroll ? { enroll } : {}),
    ...(execFanout ? { execFanout } : {}),
  };
  const policy = phases.has("policy")
    ? await policyBench(quick ? POLICY_QUICK : POLICY_FULL, log)
    : undefined;
  if (!phases.has("agent-boot")) return { ...results, ...(policy ? { policy } : {}) };
  const runs = agentBootRuns(Deno.args, quick);
  log(`agent-boot: ${runs} boots of a sandbox node with 5 services, then idle usage`);
  return {
    ...results,
    ...(policy ? { policy } : {}),
    agentBoot: await agentBootBench(runs, log),
  };
}

/** --agent-boot-runs=N, else 3 for --quick and AGENT_BOOT_RUNS otherwise. */
function agentBootRuns(args: readonly string[], quick: boolean): number {
  const arg = args.find((a) => a.startsWith("--agent-boot-runs="));
  if (arg === undefined) return quick ? 3 : AGENT_BOOT_RUNS;
  const runs = Number(arg.slice("--agent-boot-runs=".length));
  if (!Number.isInteger(runs) || runs < 1) throw invalid(arg);
  return runs;
}

/** The journal phases (local and quorum) that `phases` selects. */
async function journalBench(
  counts: Counts,
  phases: ReadonlySet<Phase>,
  quick: boolean,
): Promise<BenchResults> {
  const selected = new Set(QUORUM_PHASES.filter((p) => phases.has(p)));
  if (selected.size > 0 && !etcdAvailable()) {
    throw new Error("The quorum phases need etcd on PATH (or use --no-quorum)");
  }
  let starting: Promise<StartedQuorum> | undefined = selected.size > 0 && quick
    ? startQuorum(log)
    : undefined;
  let local: LocalResults | undefined;
  try {
    local = phases.has("local") ? await localPhases(counts) : undefined;
  } catch (err) {
    await starting?.then((s) => s.quorum.dispose(), () => {});
    throw err;
  }
  if (selected.size === 0) return { ...local };
  starting ??= startQuorum(log);
  const quorum = await quorumPhases(await starting, counts.quorum, selected, log);
  return { ...local, quorum };
}

/** The single-node phases: raw SQLite, one journal, the CLI. */
async function localPhases(counts: Counts): Promise<LocalResults> {
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
): Promise<Omit<LocalResults, "sqlite">> {
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

async function writeJson(
  file: string,
  counts: Counts,
  phases: ReadonlySet<Phase>,
  results: BenchResults & {
    agentBoot?: AgentBootResults;
    policy?: PolicyResults;
    enroll?: EnrollResults;
    execFanout?: ExecFanoutResults;
  },
): Promise<void> {
  const document = {
    date: new Date().toISOString(),
    deno: Deno.version,
    cpus: navigator.hardwareConcurrency,
    os: `${Deno.build.os}-${Deno.build.arch}`,
    phases: [...phases],
    counts,
    results,
    ratios: allRatios(results),
  };
  await Deno.mkdir(`${ROOT}/tests/bench/results`, { recursive: true });
  await Deno.writeTextFile(file, `${JSON.stringify(document, null, 2)}\n`);
}

const RUN_STARTED = performance.now();

/** Progress on stderr, with the seconds since the run started. */
function log(message: string): void {
  const seconds = ((performance.now() - RUN_STARTED) / 1000).toFixed(1).padStart(5);
  console.error(`[bench ${seconds} s] ${message}`);
}

async function main(): Promise<void> {
  const counts = parseCounts(Deno.args);
  const phases = parsePhases(Deno.args);
  log(`deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs; phases ${[...phases]}`);
  const started = performance.now();
  const results = await bench(counts, phases, Deno.args.includes("--quick"));
  console.log(renderReport(results));
  if (results.policy) console.log(`\n${renderPolicy(results.policy)}`);
  if (results.agentBoot) console.log(`\n${renderAgentBoot(results.agentBoot)}`);
  if (results.enroll) console.log(`\n${renderEnrollment(results.enroll)}`);
  if (results.execFanout) console.log(`\n${renderExecFanout(results.execFanout)}`);
  const file = resultsFile(Deno.args);
  await writeJson(file, counts, phases, results);
  log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s; wrote ${file}`);
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    console.error("[bench] FAILED:", err);
    Deno.exit(1);
  }
  // Everything was stopped and closed; exit now rather than wait for the
  // harness's start-up timers (JournalProcess.start never clears its
  // ready timeout, which would keep this process alive for up to 90 s).
  Deno.exit(0);
}
