/**
 * Exec fan-out benchmark (issue 8): `pact exec --vcluster X -- hostname` on
 * 1, 100 and 1,000 simulated nodes, against the floor of running the same
 * command as many times locally with the same bounded concurrency.
 *
 * A real pact-journal on loopback holds the node registry: every node is
 * registered in its vCluster (BatchRegisterNodes) and reports its shell
 * address as a real agent does. The nodes are served by a few host
 * processes (exec_fanout_host.ts), each running many production shell
 * servers with the exec module, one per node identity on its own
 * 127.0.0.1 port, validating the caller's token and journaling EXEC_LOG
 * intent and outcome for every exec (the product's behaviour, part of the
 * measured cost). The real CLI (bin/pact) runs as a subprocess, timed
 * from spawn to exit; its `--json` lines carry each node's `elapsed_ms`.
 * Cases run round-robin over the repetitions, and the local floor is
 * timed between them, so that load changes affect all figures alike.
 *
 * Run alone with `deno run -A tests/bench/exec_fanout.ts [--quick]`, or as
 * the `exec-fanout` phase of `tests/bench/run.ts`.
 */
import { credentials, Metadata } from "@grpc/grpc-js";
import { emptyHardwareIdentity } from "../../shared/domain/hardware_identity.ts";
import { EnrollmentServiceClient } from "../../shared/proto/gen/pact/enrollment/enrollment.ts";
import { JournalProcess } from "../harness/journal_process.ts";
import { BIN, ROOT } from "../harness/paths.ts";
import { type Percentiles, percentiles } from "./stats.ts";

/** How much work the phase does. */
export interface ExecFanoutCounts {
  /** Fleet sizes timed (each its own vCluster). */
  readonly sizes: readonly number[];
  /** `--concurrency` values timed (the CLI's default is 50). */
  readonly concurrencies: readonly number[];
  /** Timed runs per case (after one untimed run per size). */
  readonly runs: number;
  /** Host processes serving the nodes. */
  readonly hosts: number;
}

export const EXEC_FANOUT_FULL: ExecFanoutCounts = {
  sizes: [1, 100, 1000],
  concurrencies: [50, 200],
  runs: 5,
  hosts: 8,
};

export const EXEC_FANOUT_QUICK: ExecFanoutCounts = {
  sizes: [1, 20],
  concurrencies: [50],
  runs: 2,
  hosts: 2,
};

/** One fleet size at one concurrency. */
export interface FanoutCase {
  readonly nodes: number;
  readonly concurrency: number;
  readonly runs: number;
  /** Wall time of `pact exec --vcluster`, spawn to exit, per run (ms). */
  readonly wallMs: readonly number[];
  readonly wallMedianMs: number;
  /** Each node's elapsed_ms from the CLI's --json output, over every run. */
  readonly perNodeMs: Percentiles;
  /** Nodes per second at the median wall time. */
  readonly nodesPerSecond: number;
  /** Median wall / median local floor (as many `hostname` runs, the same concurrency). */
  readonly wallOverFloor: number;
  /** CPU time (user + system) per run, median over the runs: where the work went (ms). */
  readonly cpuMs: { readonly cli: number; readonly hosts: number; readonly journal: number };
}

/** The floor: `commands` local `hostname` runs with bounded concurrency. */
export interface FloorResult {
  readonly commands: number;
  readonly concurrency: number;
  readonly wallMs: readonly number[];
  readonly wallMedianMs: number;
}

/** What the exec-fanout phase measured. */
export interface ExecFanoutResults {
  readonly hosts: number;
  readonly nodesHosted: number;
  /** Registration, host start and every shell address journaled (ms). */
  readonly setupMs: number;
  /** The text form (grouped output), one run per size at the default concurrency. */
  readonly textWallMs: Readonly<Record<string, number>>;
  readonly cases: readonly FanoutCase[];
  readonly floors: readonly FloorResult[];
  /** Execs the hosts counted (each journaled intent + outcome), against the CLI's ok nodes. */
  readonly execsServed: number;
  readonly execsExpected: number;
  /** The reference cited by issue 8. */
  readonly reference: {
    readonly tool: string;
    readonly command: string;
    readonly nodes: number;
    readonly seconds: number;
  };
}

const VCLUSTER = (size: number) => `fanout-${size}`;
const REFERENCE = { tool: "clush over SSH", command: "whoami", nodes: 1177, seconds: 60 };

/** Runs the phase. */
export async function execFanoutBench(
  counts: ExecFanoutCounts,
  log: (line: string) => void,
): Promise<ExecFanoutResults> {
  const tmp = await Deno.makeTempDir({ prefix: "pact-bench-fanout-" });
  const journal = await JournalProcess.start();
  const hosts: Host[] = [];
  try {
    const token = await journal.token();
    const nodes = counts.sizes.flatMap((size) =>
      Array.from({ length: size }, (_, i) => ({
        id: `f${size}n${String(i + 1).padStart(4, "0")}`,
        vcluster: VCLUSTER(size),
      }))
    );
    const setupStarted = performance.now();
    log(`exec-fanout: registering ${nodes.length} nodes in ${counts.sizes.length} vClusters`);
    await register(journal.grpcAddress, token, nodes);
    log(`exec-fanout: starting ${counts.hosts} host processes`);
    for (let h = 0; h < counts.hosts; h++) {
      // Round-robin, so that every fleet spreads over every host.
      const mine = nodes.filter((_, i) => i % counts.hosts === h);
      hosts.push(startHost(journal.grpcAddress, mine, `${tmp}/host${h}`));
    }
    await Promise.all(hosts.map((h) => h.ready));
    const setupMs = performance.now() - setupStarted;
    log(`exec-fanout: ${nodes.length} nodes up in ${(setupMs / 1000).toFixed(1)} s`);

    const env = { PACT_TOKEN: token, PACT_ENDPOINT: journal.endpoint };
    const home = `${tmp}/home`;
    await Deno.mkdir(home);
    const expected = await localHostname();
    let execsExpected = 0;
    const textWallMs: Record<string, number> = {};
    for (const size of counts.sizes) {
      // Untimed warm-up, then the text form once: grouped under one node list.
      const warm = await runFleet(size, 50, env, home, expected, "json");
      execsExpected += warm.ok;
      const text = await runFleet(size, 50, env, home, expected, "text");
      execsExpected += text.ok;
      textWallMs[String(size)] = text.wallMs;
      log(`exec-fanout: ${size} node(s), text output: ${text.wallMs.toFixed(0)} ms`);
    }
    const samples = new Map<string, Sample>();
    const cpuOf = (pids: readonly number[]) =>
      Promise.all(pids.map(cpuTicks)).then((t) => t.reduce((a, b) => a + b, 0));
    for (let run = 0; run < counts.runs; run++) {
      for (const concurrency of counts.concurrencies) {
        for (const size of counts.sizes) {
          const key = `${size}/${concurrency}`;
          const sample = samples.get(key) ??
            { wall: [], perNode: [], floor: [], cli: [], hosts: [], journal: [] };
          samples.set(key, sample);
          const floor = await localFloor(size, concurrency, expected);
          sample.floor.push(floor);
          const before = [
            await childrenTicks(),
            await cpuOf(hosts.map((h) => h.pid)),
            await cpuTicks(journal.pid),
          ];
          const fleet = await runFleet(size, concurrency, env, home, expected, "json");
          sample.cli.push((await childrenTicks() - before[0]!) * TICK_MS);
          sample.hosts.push((await cpuOf(hosts.map((h) => h.pid)) - before[1]!) * TICK_MS);
          sample.journal.push((await cpuTicks(journal.pid) - before[2]!) * TICK_MS);
          execsExpected += fleet.ok;
          sample.wall.push(fleet.wallMs);
          sample.perNode.push(...fleet.perNodeMs);
          log(
            `exec-fanout: run ${run + 1}/${counts.runs}: ${size} node(s) at ${concurrency}: ` +
              `${fleet.wallMs.toFixed(0)} ms (floor ${floor.toFixed(0)} ms)`,
          );
        }
      }
    }
    const floors = [...samples].map(([key, sample]): FloorResult => {
      const [size, concurrency] = key.split("/").map(Number) as [number, number];
      return {
        commands: size,
        concurrency,
        wallMs: sample.floor,
        wallMedianMs: median(sample.floor),
      };
    });
    const cases = counts.concurrencies.flatMap((concurrency) =>
      counts.sizes.map((size): FanoutCase => {
        const { wall, perNode, cli, hosts, journal } = samples.get(`${size}/${concurrency}`)!;
        const wallMedianMs = median(wall);
        const floor = floors.find((f) => f.concurrency === concurrency && f.commands === size)!
          .wallMedianMs;
        return {
          nodes: size,
          concurrency,
          runs: wall.length,
          wallMs: wall,
          wallMedianMs,
          perNodeMs: percentiles(perNode),
          nodesPerSecond: size / (wallMedianMs / 1000),
          wallOverFloor: wallMedianMs / floor,
          cpuMs: { cli: median(cli), hosts: median(hosts), journal: median(journal) },
        };
      })
    );
    const execsServed = (await Promise.all(hosts.splice(0).map((h) => h.stop())))
      .reduce((a, b) => a + b, 0);
    if (execsServed !== execsExpected) {
      throw new Error(`The hosts ran ${execsServed} execs; the CLI reported ${execsExpected} ok`);
    }
    return {
      hosts: counts.hosts,
      nodesHosted: nodes.length,
      setupMs,
      textWallMs,
      cases,
      floors,
      execsServed,
      execsExpected,
      reference: REFERENCE,
    };
  } finally {
    await Promise.all(hosts.map((h) => h.stop().catch(() => 0)));
    await journal.dispose();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/** Registers every node in its vCluster, in batches. */
async function register(
  address: string,
  token: string,
  nodes: readonly { id: string; vcluster: string }[],
): Promise<void> {
  const client = new EnrollmentServiceClient(address, credentials.createInsecure());
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  try {
    for (let i = 0; i < nodes.length; i += 500) {
      const batch = nodes.slice(i, i + 500).map((n, j) => ({
        nodeId: n.id,
        hardwareIdentity: { ...emptyHardwareIdentity(), macAddress: macOf(i + j) },
        vclusterId: n.vcluster,
      }));
      await new Promise<void>((resolve, reject) => {
        client.batchRegisterNodes({ nodes: batch }, metadata, (err, response) => {
          if (err) reject(err);
          else if (response.failed > 0) {
            reject(
              new Error(
                `${response.failed} registrations failed: ${
                  response.results.find((r) => !r.success)?.error
                }`,
              ),
            );
          } else resolve();
        });
      });
    }
  } finally {
    client.close();
  }
}

function macOf(i: number): string {
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  return `52:54:02:${hex((i >> 16) & 255)}:${hex((i >> 8) & 255)}:${hex(i & 255)}`;
}

/** One case's samples over the runs (ms). */
interface Sample {
  readonly wall: number[];
  readonly perNode: number[];
  readonly floor: number[];
  readonly cli: number[];
  readonly hosts: number[];
  readonly journal: number[];
}

/** Milliseconds per clock tick (USER_HZ is 100 on Linux). */
const TICK_MS = 10;

/** User + system CPU ticks of a process so far, from /proc/<pid>/stat. */
async function cpuTicks(pid: number | string): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
}

/**
 * CPU ticks of this process's waited-for children (cutime + cstime): the
 * CLI, once its run ended (bin/pact execs deno in the same process).
 */
async function childrenTicks(): Promise<number> {
  const stat = await Deno.readTextFile("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[13]) + Number(fields[14]); // cutime, cstime (fields 16, 17)
}

/** A running exec_fanout_host.ts process. */
interface Host {
  readonly pid: number;
  /** Resolves once every node listens and its address is journaled. */
  readonly ready: Promise<void>;
  /** SIGTERM; resolves with the execs the host counted. */
  stop(): Promise<number>;
}

function startHost(
  journal: string,
  nodes: readonly { id: string; vcluster: string }[],
  stateDir: string,
): Host {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      "--allow-all",
      `${ROOT}/tests/bench/exec_fanout_host.ts`,
      `--journal=${journal}`,
      `--nodes=${nodes.map((n) => `${n.id}@${n.vcluster}`).join(",")}`,
      `--state-dir=${stateDir}`,
    ],
    env: { DENO_NO_UPDATE_CHECK: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // The log's tail, for errors; the rest is read and dropped as a terminal would scroll it.
  let tail = "";
  const drained = (async () => {
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
      tail = (tail + text).slice(-4000);
    }
  })();
  const lines = child.stdout.pipeThrough(new TextDecoderStream())[Symbol.asyncIterator]();
  let stdout = "";
  const nextLine = async (): Promise<string> => {
    while (!stdout.includes("\n")) {
      const { value, done } = await lines.next();
      if (done) throw new Error(`exec_fanout_host ended early:\n${tail}`);
      stdout += value;
    }
    const line = stdout.slice(0, stdout.indexOf("\n"));
    stdout = stdout.slice(line.length + 1);
    return line;
  };
  const ready = nextLine().then((line) => {
    if (line !== `ready ${nodes.length}`) throw new Error(`exec_fanout_host: ${line}\n${tail}`);
  });
  let stopping: Promise<number> | undefined;
  return {
    pid: child.pid,
    ready,
    stop: () =>
      stopping ??= (async () => {
        try {
          child.kill("SIGTERM");
        } catch { /* already gone */ }
        const line = await nextLine().catch(() => "");
        const status = await child.status;
        await drained;
        const execs = /^stopped (\d+) execs$/.exec(line);
        if (!status.success || !execs) {
          throw new Error(`exec_fanout_host exited ${status.code}: ${line}\n${tail}`);
        }
        return Number(execs[1]);
      })(),
  };
}

/** What this machine's `hostname` prints: every node's expected output. */
async function localHostname(): Promise<string> {
  const out = await new Deno.Command("hostname", { stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout);
}

/** One `pact exec --vcluster` run; throws unless every node answered `expected`. */
async function runFleet(
  size: number,
  concurrency: number,
  env: Record<string, string>,
  home: string,
  expected: string,
  output: "json" | "text",
): Promise<{ wallMs: number; perNodeMs: number[]; ok: number }> {
  const args = [
    ...(output === "json" ? ["--json"] : []),
    "exec",
    "--vcluster",
    VCLUSTER(size),
    ...(concurrency === 50 ? [] : ["--concurrency", String(concurrency)]),
    "--",
    "hostname",
  ];
  const started = performance.now();
  const result = await new Deno.Command(`${BIN}/pact`, {
    args,
    env: { HOME: home, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...env },
    clearEnv: true,
    stdin: "null",
  }).output();
  const wallMs = performance.now() - started;
  const stdout = new TextDecoder().decode(result.stdout);
  const stderr = new TextDecoder().decode(result.stderr);
  const failed = (why: string) =>
    new Error(
      `pact ${args.join(" ")}: ${why} (exit ${result.code})\n${stderr.slice(-2000)}${
        stdout.slice(0, 500)
      }`,
    );
  if (result.code !== 0) throw failed("not every node answered");
  if (output === "text") {
    const rule = "----------------";
    const nodes = size === 1 ? `f1n0001` : `f${size}n[0001-${String(size).padStart(4, "0")}]`;
    if (stdout !== `${rule}\n${nodes}\n${rule}\n${expected}`) throw failed("unexpected output");
    return { wallMs, perNodeMs: [], ok: size };
  }
  const lines = stdout.trim().split("\n").map((line) =>
    JSON.parse(line) as { stdout?: string; exit_code?: number; elapsed_ms?: number }
  );
  if (
    lines.length !== size ||
    lines.some((l) => l.exit_code !== 0 || l.stdout !== expected || !(l.elapsed_ms! >= 0))
  ) throw failed(`expected ${size} ok lines with elapsed_ms`);
  return { wallMs, perNodeMs: lines.map((l) => l.elapsed_ms!), ok: size };
}

/** `commands` × `hostname` with at most `concurrency` at once: the floor (ms). */
export async function localFloor(
  commands: number,
  concurrency: number,
  expected: string,
): Promise<number> {
  const decoder = new TextDecoder();
  let next = 0;
  const worker = async () => {
    while (next < commands) {
      next++;
      const out = await new Deno.Command("hostname", { stdout: "piped", stderr: "piped" })
        .output();
      if (!out.success || decoder.decode(out.stdout) !== expected) {
        throw new Error(`local hostname failed: ${decoder.decode(out.stderr)}`);
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, commands) }, worker));
  return performance.now() - started;
}

function median(samples: readonly number[]): number {
  return percentiles(samples).p50;
}

/** The results as a table. */
export function renderExecFanout(r: ExecFanoutResults): string {
  const f = (x: number, digits = 0) => x.toFixed(digits);
  const rows = r.cases.map((c) =>
    [
      String(c.nodes),
      String(c.concurrency),
      String(c.runs),
      f(c.wallMedianMs),
      f(c.perNodeMs.p50),
      f(c.perNodeMs.p99),
      f(c.nodesPerSecond),
      `${f(c.wallOverFloor, 2)}x`,
      `${f(c.cpuMs.cli / 1000, 2)} / ${f(c.cpuMs.hosts / 1000, 2)} / ${
        f(c.cpuMs.journal / 1000, 2)
      }`,
    ].join("  ")
  );
  const floors = r.floors.map((fl) =>
    `  floor: ${fl.commands} × hostname locally at concurrency ${fl.concurrency}: median ${
      f(fl.wallMedianMs)
    } ms (${fl.wallMs.map((x) => f(x)).join(", ")})`
  );
  const ref = r.reference;
  return [
    `Exec fan-out: pact exec --vcluster X -- hostname (${r.nodesHosted} simulated nodes in ${r.hosts} host processes, set up in ${
      f(r.setupMs / 1000, 1)
    } s; ${r.execsServed} execs served and journaled)`,
    "  nodes  concurrency  runs  wall ms (median)  node p50 ms  node p99 ms  nodes/s  wall/floor" +
    "  CPU s cli / hosts / journal",
    ...rows.map((row) => `  ${row}`),
    ...floors,
    `  text output, one run at 50: ${
      Object.entries(r.textWallMs).map(([n, ms]) => `${n} node(s) ${f(ms)} ms`).join(", ")
    }`,
    `  reference: ${ref.tool}, ${ref.command} on ${ref.nodes} nodes in ${ref.seconds} s (${
      f(ref.nodes / ref.seconds, 1)
    } nodes/s)`,
  ].join("\n");
}

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  const results = await execFanoutBench(
    quick ? EXEC_FANOUT_QUICK : EXEC_FANOUT_FULL,
    (line) => console.error(line),
  );
  console.log(renderExecFanout(results));
  console.log(JSON.stringify(results));
  Deno.exit(0);
}
