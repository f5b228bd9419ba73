/**
 * Boot storm: N simulated agents boot at once, each its own gRPC stream
 * with its own node id, against one journal and against all three; the
 * baseline is the same compressed overlay bytes read from etcd directly by
 * N concurrent clients. The agents run in separate load-generator
 * processes (`boot_agents.ts`).
 */
import { Buffer } from "node:buffer";
import type { Etcd3 } from "etcd3";
import {
  DeclaredState,
  type FileDecl,
  ServiceDecl,
} from "../../shared/proto/gen/pact/config/config.ts";
import { sha256Hex } from "../../shared/hash.ts";
import { overlayUpdate } from "../../shared/testing/entries.ts";
import { JournalClient } from "../../cli/client/journal_client.ts";
import { LineSplitter } from "../harness/journal_process.ts";
import type { JournalQuorum } from "../harness/journal_quorum.ts";
import { ROOT } from "../harness/paths.ts";
import { type AgentsJob, type AgentsReport, bootClient, bootOnce } from "./boot_agents.ts";
import type { JournalTarget } from "./journal_load.ts";
import { type Percentiles, percentiles } from "./stats.ts";

/** How big the storms are. */
export interface BootCounts {
  /** Agent counts; each runs against one journal, three journals, one and three etcd members. */
  readonly agents: readonly number[];
  /** Agents sharing one HTTP/2 connection. */
  readonly agentsPerChannel: number;
  /** Most agents in one load-generator process. */
  readonly agentsPerProcess: number;
  /** Size of the encoded overlay (DeclaredState) before compression. */
  readonly overlayBytes: number;
  /** An agent gives up this long after the start. */
  readonly deadlineMs: number;
  /** Which storms run for each agent count (default the first four of BOOT_VARIANTS). */
  readonly variants?: readonly BootVariant[];
}

/**
 * A storm: the journal or etcd, against one server or spread over three.
 * `journal-1-overlay` (not run by default) is a diagnostic: agents without
 * a node id, so the journal serves the overlay and reads no node delta.
 */
export type BootVariant = "journal-1" | "journal-3" | "etcd-1" | "etcd-3" | "journal-1-overlay";
export const BOOT_VARIANTS: readonly BootVariant[] = [
  "journal-1",
  "journal-3",
  "etcd-1",
  "etcd-3",
  "journal-1-overlay",
];
const DEFAULT_VARIANTS = BOOT_VARIANTS.slice(0, 4);

/** The overlay the agents boot. */
export interface OverlayInfo {
  readonly vclusterId: string;
  /** Encoded DeclaredState, as the OVERLAY_UPDATE entry carries it. */
  readonly contentBytes: number;
  /** zstd-compressed, as the journal serves it (and etcd holds it for the baseline). */
  readonly compressedBytes: number;
  readonly chunks: number;
  readonly version: number;
}

/** One storm. */
export interface BootRun {
  readonly server: "journal" | "etcd";
  /** False for the diagnostic storm whose agents send no node id. */
  readonly withNodeId: boolean;
  /** Journals (or etcd members) the agents were spread over. */
  readonly servers: number;
  readonly agents: number;
  readonly processes: number;
  readonly connections: number;
  readonly ok: number;
  readonly successRate: number;
  readonly failures: Readonly<Record<string, number>>;
  readonly retries: Readonly<Record<string, number>>;
  /** Start to the last agent done (ms). */
  readonly elapsedMs: number;
  /** Configs delivered per second over `elapsedMs`. */
  readonly bootsPerSecond: number;
  /** Time to config of the agents that got it, from the start (ms). */
  readonly timeToConfigMs: Percentiles | undefined;
  /**
   * After the last agent was done or gave up: until every journal reported
   * no active boot stream (ms; undefined for etcd, or when it took over 30 s).
   */
  readonly drainMs: number | undefined;
  /** Resident memory (VmRSS, MiB) of each serving process: before the storm, peak, after. */
  readonly rssMiB: readonly {
    readonly pid: number;
    readonly before: number;
    readonly peak: number;
    /** When the journals were idle again (or right after the storm, for etcd). */
    readonly after: number;
  }[];
}

/** One agent booting alone: with its node id (overlay + node delta) and without (overlay only). */
export interface BootLatency {
  /** Entries in the log (boots are served from memory, so this should not matter). */
  readonly logEntries: number;
  readonly samples: number;
  /** Median time of one boot with a node id (ms). */
  readonly withNodeIdMs: number;
  /** Median time of one boot without a node id: no node delta is read (ms). */
  readonly overlayOnlyMs: number;
}

export interface BootStormResults {
  readonly overlay: OverlayInfo;
  /** Entries in the log when the storms ran. */
  readonly logEntries: number;
  readonly runs: readonly BootRun[];
  /** Single boots, before the storms and (when the write phase ran) after it. */
  readonly latency: BootLatency[];
}

/** The overlay written and checked, and what agents need to boot it. */
export interface BootSetup {
  readonly overlay: OverlayInfo;
  readonly agentToken: string;
  readonly checksum: string;
  readonly contentChecksum: string;
  readonly contentBytes: number;
  readonly compressed: Uint8Array;
}

const VCLUSTER = "bench-boot";
const ETCD_KEY = `pact-bench/boot/overlay/${VCLUSTER}`;
const DRAIN_LIMIT_MS = 30_000;

/** Writes the overlay, checks that every journal serves the same bytes, puts them in etcd. */
export async function prepareBoot(
  quorum: JournalQuorum,
  targets: readonly JournalTarget[],
  etcd: Etcd3,
  counts: BootCounts,
  log: (message: string) => void,
): Promise<BootSetup> {
  const journals = quorum.members.map((_, i) => quorum.journal(i));
  const admin = new JournalClient({
    endpoint: targets[0]!.endpoint,
    token: targets[0]!.token,
    timeoutSeconds: 60,
  });
  const declared = benchOverlay(counts.overlayBytes);
  const content = DeclaredState.encode(declared).finish();
  log(`boot: writing a ${content.length} B overlay for vCluster ${VCLUSTER}`);
  let version: number;
  try {
    const entry = { ...overlayUpdate(VCLUSTER, content), requestId: crypto.randomUUID() };
    version = (await admin.appendEntry({ entry })).sequence;
  } finally {
    admin.close();
  }

  // Every journal serves the overlay (tailing brought it there) with the same bytes.
  const agentToken = await journals[0]!.token("pact-service-agent", "agent-bench", "agent");
  let reference: Awaited<ReturnType<typeof bootOnce>> | undefined;
  for (const [i, journal] of journals.entries()) {
    const client = bootClient(journal.grpcAddress, -1 - i);
    try {
      const booted = await retryUntil(
        () => bootOnce(client, agentToken, `boot-check-${i}`, VCLUSTER, Date.now() + 30_000),
        (b) => b.configVersion >= version,
        30_000,
      );
      if (reference && booted.checksum !== reference.checksum) {
        throw new Error(`journal ${i + 1} serves other overlay bytes than journal 1`);
      }
      reference ??= booted;
    } finally {
      client.close();
    }
  }
  await etcd.put(ETCD_KEY).value(Buffer.from(reference!.overlay));
  return {
    overlay: {
      vclusterId: VCLUSTER,
      contentBytes: content.length,
      compressedBytes: reference!.overlayBytes,
      chunks: Math.ceil(reference!.overlayBytes / (64 * 1024)),
      version,
    },
    agentToken,
    checksum: reference!.checksum,
    contentChecksum: reference!.contentChecksum,
    contentBytes: reference!.contentBytes,
    compressed: reference!.overlay,
  };
}

/** `samples` boots one after the other against `target`, with and without a node id. */
export async function bootLatency(
  setup: BootSetup,
  target: JournalTarget,
  address: string,
  samples: number,
  label: string,
): Promise<BootLatency> {
  const status = new JournalClient({
    endpoint: target.endpoint,
    token: target.token,
    timeoutSeconds: 30,
  });
  const client = bootClient(address, -10);
  try {
    const logEntries = (await status.getJournalStatus()).nextSequence;
    const time = async (nodeId: string) => {
      const t0 = performance.now();
      await bootOnce(client, setup.agentToken, nodeId, VCLUSTER, Date.now() + 120_000);
      return performance.now() - t0;
    };
    await time(""); // connection and warm-up
    const withNode: number[] = [];
    const overlayOnly: number[] = [];
    for (let i = 0; i < samples; i++) {
      withNode.push(await time(`boot-latency-${label}-${i}`));
      overlayOnly.push(await time(""));
    }
    return {
      logEntries,
      samples,
      withNodeIdMs: percentiles(withNode).p50,
      overlayOnlyMs: percentiles(overlayOnly).p50,
    };
  } finally {
    client.close();
    status.close();
  }
}

/** Runs every storm for every agent count, journals first. */
export async function bootStorms(
  quorum: JournalQuorum,
  targets: readonly JournalTarget[],
  etcd: Etcd3,
  setup: BootSetup,
  counts: BootCounts,
  log: (message: string) => void,
): Promise<BootStormResults> {
  const journals = quorum.members.map((_, i) => quorum.journal(i));
  const latency = [await bootLatency(setup, targets[0]!, journals[0]!.grpcAddress, 5, "before")];
  const logEntries = latency[0]!.logEntries;
  log(
    `boot: one boot takes ${latency[0]!.withNodeIdMs.toFixed(0)} ms ` +
      `(${
        latency[0]!.overlayOnlyMs.toFixed(0)
      } ms without node id) at a log of ${logEntries} entries`,
  );
  const etcdPids = await Promise.all(quorum.members.map((_, i) => quorum.etcdPid(i)));
  const etcdUrls = quorum.members.map((m) => `http://127.0.0.1:${m.grpc + 2}`);
  const job = (kind: AgentsJob["kind"], endpoints: string[], agents: number) => ({
    kind,
    endpoints,
    token: setup.agentToken,
    vclusterId: VCLUSTER,
    etcdKey: ETCD_KEY,
    checksum: setup.checksum,
    contentChecksum: setup.contentChecksum,
    contentBytes: setup.contentBytes,
    nodePrefix: `boot-${kind}-${endpoints.length}-${agents}-`,
    withNodeId: true,
    firstAgent: 0,
    agents,
    agentsPerChannel: counts.agentsPerChannel,
    deadlineMs: counts.deadlineMs,
  });
  const runs: BootRun[] = [];
  try {
    for (const agents of counts.agents) {
      for (const variant of counts.variants ?? DEFAULT_VARIANTS) {
        const [server, n, overlayOnly] = variant.split("-") as [
          "journal" | "etcd",
          string,
          string?,
        ];
        const servers = Math.min(Number(n), quorum.members.length);
        if (server === "journal") {
          log(
            `boot: ${agents} agents against ${servers} journal(s)${
              overlayOnly ? ", without node ids" : ""
            }`,
          );
          const used = journals.slice(0, servers);
          const addresses = used.map((j) => j.grpcAddress);
          const agentsJob = { ...job(server, addresses, agents), withNodeId: !overlayOnly };
          const run = await storm(server, agentsJob, used.map((j) => j.pid), counts);
          const drainMs = await drained(targets);
          runs.push({ ...run, drainMs, rssMiB: withRssAfter(run.rssMiB) });
        } else {
          log(`boot: ${agents} etcd reads of the overlay key from ${servers} member(s)`);
          const endpoints = etcdUrls.slice(0, servers);
          const run = await storm(
            server,
            job(server, endpoints, agents),
            etcdPids.slice(0, servers),
            counts,
          );
          runs.push({ ...run, drainMs: undefined, rssMiB: withRssAfter(run.rssMiB) });
        }
        log(`boot: ${describe(runs.at(-1)!)}`);
      }
    }
  } finally {
    await etcd.delete().key(ETCD_KEY).exec().catch(() => {});
  }
  return { overlay: setup.overlay, logEntries, runs, latency };
}

/**
 * Waits until no journal has a boot stream open (their handlers may go on
 * after the agents gave up); the time that took, or undefined after
 * DRAIN_LIMIT_MS.
 */
async function drained(targets: readonly JournalTarget[]): Promise<number | undefined> {
  const started = performance.now();
  while (performance.now() - started < DRAIN_LIMIT_MS) {
    let active = 0;
    for (const target of targets) {
      const text = await (await fetch(`${target.httpUrl}/metrics`)).text();
      const line = text.split("\n").find((l) => l.startsWith("pact_journal_boot_streams_active"));
      active += Number(line?.split(" ").at(-1) ?? 0);
    }
    if (active === 0) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return undefined;
}

/** One storm: load-generator processes connect, start together, report. */
async function storm(
  server: BootRun["server"],
  job: AgentsJob,
  pids: readonly number[],
  counts: BootCounts,
): Promise<Omit<BootRun, "drainMs" | "rssMiB"> & { rssMiB: RssBeforePeak[] }> {
  const processes = Math.ceil(job.agents / counts.agentsPerProcess);
  const jobs = Array.from({ length: processes }, (_, p) => {
    const first = Math.floor((job.agents * p) / processes);
    const next = Math.floor((job.agents * (p + 1)) / processes);
    return { ...job, firstAgent: first, agents: next - first };
  });
  await using generators = new AsyncDisposableStack();
  const workers = jobs.map((j) => {
    const worker = new LoadGenerator(j);
    generators.defer(() => worker.kill());
    return worker;
  });
  await Promise.all(workers.map((w) => w.ready()));
  const before = pids.map(rssMiB);
  const peak = [...before];
  const sampler = setInterval(() => {
    pids.forEach((pid, i) => (peak[i] = Math.max(peak[i]!, rssMiB(pid))));
  }, 100);
  let reports: AgentsReport[];
  try {
    await Promise.all(workers.map((w) => w.start()));
    reports = await Promise.all(workers.map((w) => w.report()));
  } finally {
    clearInterval(sampler);
  }
  pids.forEach((pid, i) => (peak[i] = Math.max(peak[i]!, rssMiB(pid))));
  const latencies = reports.flatMap((r) => r.latenciesMs);
  const merge = (pick: (r: AgentsReport) => Record<string, number>) => {
    const merged: Record<string, number> = {};
    for (const r of reports) {
      for (const [k, v] of Object.entries(pick(r))) merged[k] = (merged[k] ?? 0) + v;
    }
    return merged;
  };
  const elapsedMs = Math.max(...reports.map((r) => r.elapsedMs));
  return {
    server,
    withNodeId: job.kind === "etcd" || job.withNodeId,
    servers: job.endpoints.length,
    agents: job.agents,
    processes,
    connections: reports.reduce((sum, r) => sum + r.channels, 0),
    ok: latencies.length,
    successRate: latencies.length / job.agents,
    failures: merge((r) => r.failures),
    retries: merge((r) => r.retries),
    elapsedMs,
    bootsPerSecond: latencies.length / (elapsedMs / 1000),
    timeToConfigMs: latencies.length > 0 ? percentiles(latencies) : undefined,
    rssMiB: pids.map((pid, i) => ({ pid, before: before[i]!, peak: peak[i]! })),
  };
}

/** A `boot_agents.ts` process. */
class LoadGenerator {
  readonly #child: Deno.ChildProcess;
  readonly #lines: ReadableStreamDefaultReader<string>;
  readonly #stderr: Promise<string>;

  constructor(job: AgentsJob) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--quiet",
        `${ROOT}/tests/bench/boot_agents.ts`,
        JSON.stringify(job),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#lines = this.#child.stdout.pipeThrough(new TextDecoderStream())
      .pipeThrough(new LineSplitter()).getReader();
    this.#stderr = new Response(this.#child.stderr).text();
  }

  async ready(): Promise<void> {
    const line = await this.#next();
    if (line !== "ready") throw new Error(`load generator: expected "ready", got ${line}`);
  }

  async start(): Promise<void> {
    const writer = this.#child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("go\n"));
    writer.releaseLock();
  }

  async report(): Promise<AgentsReport> {
    return JSON.parse(await this.#next()) as AgentsReport;
  }

  async kill(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch { /* exited */ }
    await this.#child.status;
    await this.#stderr.catch(() => "");
  }

  async #next(): Promise<string> {
    const { value, done } = await this.#lines.read();
    if (done) {
      const status = await this.#child.status;
      throw new Error(
        `load generator exited (${status.code}) early:\n${(await this.#stderr).slice(-4000)}`,
      );
    }
    return value;
  }
}

type RssBeforePeak = Omit<BootRun["rssMiB"][number], "after">;

/** The samples plus each process's RSS now. */
function withRssAfter(samples: readonly RssBeforePeak[]): BootRun["rssMiB"] {
  return samples.map((r) => ({ ...r, after: rssMiB(r.pid) }));
}

/** VmRSS of `pid` in MiB (0 when it cannot be read). */
export function rssMiB(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
    return kb / 1024;
  } catch {
    return 0;
  }
}

function describe(run: BootRun): string {
  const ttc = run.timeToConfigMs;
  return `${run.ok}/${run.agents} ok in ${(run.elapsedMs / 1000).toFixed(1)} s, ` +
    `${run.bootsPerSecond.toFixed(0)} boots/s, p50 ${ttc?.p50.toFixed(0) ?? "-"} ms, ` +
    `p99 ${ttc?.p99.toFixed(0) ?? "-"} ms, peak RSS ${
      run.rssMiB.map((r) => r.peak.toFixed(0)).join("/")
    } MiB${
      run.drainMs === undefined ? "" : `, journals idle ${(run.drainMs / 1000).toFixed(1)} s later`
    }`;
}

async function retryUntil<T>(
  attempt: () => Promise<T>,
  done: (value: T) => boolean,
  limitMs: number,
): Promise<T> {
  const giveUpAt = performance.now() + limitMs;
  while (true) {
    try {
      const value = await attempt();
      if (done(value)) return value;
      if (performance.now() > giveUpAt) throw new Error("boot: the overlay did not show up");
    } catch (err) {
      if (performance.now() > giveUpAt) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * A deterministic vCluster overlay of about `bytes` encoded bytes: sysctls,
 * kernel modules, packages, mounts, services, interfaces and config files
 * whose text mixes fixed words and random tokens (hashes, keys), so that it
 * compresses about as well as real configuration does.
 */
export function benchOverlay(bytes: number): DeclaredState {
  const random = mulberry32(20261122);
  const hex = (n: number) =>
    Array.from({ length: n }, () => Math.floor(random() * 16).toString(16)).join("");
  const sysctl: Record<string, string> = {};
  for (let i = 0; i < 400; i++) {
    sysctl[`net.ipv4.conf.ib${i % 8}_${i}.rp_filter`] = String(Math.floor(random() * 3));
  }
  for (let i = 0; i < 200; i++) sysctl[`vm.bench_${hex(6)}`] = String(Math.floor(random() * 1e6));
  const packages: Record<string, string> = {};
  for (let i = 0; i < 800; i++) {
    packages[`lib${hex(5)}-${["devel", "libs", "tools", "common"][i % 4]}`] = `${
      Math.floor(random() * 9)
    }.${Math.floor(random() * 30)}.${Math.floor(random() * 100)}-${Math.floor(random() * 9)}.el9`;
  }
  const services: ServiceDecl[] = Array.from({ length: 24 }, (_, i) =>
    ServiceDecl.fromPartial({
      name: `svc-${i}`,
      binary: `/opt/site/bin/svc-${i}`,
      args: ["--config", `/etc/site/svc-${i}.toml`, "--log-level", "info"],
      restartPolicy: "always",
      restartDelaySeconds: 5,
      dependsOn: i > 0 ? [`svc-${i - 1}`] : [],
      order: i,
      cgroupMemoryMax: "512M",
    }));
  const declared: DeclaredState = {
    sysctl,
    modules: Array.from({ length: 40 }, (_, i) => `mod_${i}_${hex(4)}`),
    mounts: Array.from({ length: 8 }, (_, i) => ({
      path: `/scratch/${i}`,
      spec: undefined,
    })),
    files: [],
    services,
    network: Array.from({ length: 4 }, (_, i) => ({
      interface: `ib${i}`,
      address: `10.${i}.0.1/16`,
      gateway: `10.${i}.0.254`,
      mtu: 4092,
    })),
    packages,
    baseImage: "site-image-2026.11",
    supervisorBackend: "pact",
  };
  const files: FileDecl[] = [];
  while (DeclaredState.encode({ ...declared, files }).finish().length < bytes) {
    const lines = Array.from(
      { length: 40 },
      (_, l) => `option_${l} = "${hex(l % 3 === 0 ? 32 : 8)}" # managed by pact`,
    );
    const text = new TextEncoder().encode(`${lines.join("\n")}\n`);
    files.push({
      path: `/etc/site/conf.d/${files.length}.conf`,
      contentHash: sha256Hex(text),
      mode: "0644",
      owner: "root:root",
      content: text,
    });
  }
  return { ...declared, files };
}

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
