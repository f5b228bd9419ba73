/**
 * Simulated booting agents, run as a load-generator process by the boot
 * storm (`boot_storm.ts`). Each agent is its own gRPC call with its own
 * node id: a `StreamBootConfig` stream from a journal, or (the baseline) a
 * range read of the overlay key from etcd. Agents share HTTP/2 connections,
 * `agentsPerChannel` per connection, as many agents behind one NAT or
 * proxy would; every connection is opened before the start signal.
 *
 * An agent has its config once it holds every overlay chunk, the node
 * delta and the completion marker and has checked the compressed
 * checksum, inflated the overlay and checked the content checksum and
 * length; the etcd baseline does the same checks on the bytes it reads.
 * A failed call is retried (after the journal's `retry-after-ms` hint when
 * it gives one, else with exponential backoff from 0.5 s to 8 s, jittered)
 * until the deadline.
 *
 * Protocol: the job is the first argument (JSON); the process prints
 * `ready` once connected, starts every agent when it reads a line on
 * stdin, and prints one line of JSON (an AgentsReport) at the end.
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { zstdDecompressSync } from "node:zlib";
import { type ClientReadableStream, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { Etcd3 } from "etcd3";
import {
  type BootConfigChunk,
  BootConfigServiceClient,
} from "../../shared/proto/gen/pact/stream/stream.ts";

/** What one load-generator process does. */
export interface AgentsJob {
  readonly kind: "journal" | "etcd";
  /** Journal gRPC addresses (`host:port`) or etcd client URLs; agent i uses endpoints[i % n]. */
  readonly endpoints: readonly string[];
  /** Bearer token for the journal. */
  readonly token: string;
  readonly vclusterId: string;
  /** The etcd key holding the compressed overlay (etcd baseline). */
  readonly etcdKey: string;
  /** Checksums the etcd baseline verifies (the journal's stream carries its own). */
  readonly checksum: string;
  readonly contentChecksum: string;
  readonly contentBytes: number;
  /** Node ids are `${nodePrefix}${firstAgent + i}`; no node id (no node delta) when false. */
  readonly nodePrefix: string;
  readonly withNodeId: boolean;
  readonly firstAgent: number;
  readonly agents: number;
  readonly agentsPerChannel: number;
  /** An agent gives up this long after the start signal. */
  readonly deadlineMs: number;
}

/** What one load-generator process measured. */
export interface AgentsReport {
  readonly agents: number;
  readonly ok: number;
  /** Time to config of each agent that got it, from the start signal (ms). */
  readonly latenciesMs: number[];
  /** Agents that never got their config, by last error. */
  readonly failures: Record<string, number>;
  /** Retried calls, by error. */
  readonly retries: Record<string, number>;
  /** Start signal to the last agent done (ms). */
  readonly elapsedMs: number;
  readonly channels: number;
  /** Compressed overlay bytes one agent received. */
  readonly overlayBytes: number;
}

/** One verified config. */
export interface Booted {
  readonly overlayBytes: number;
  readonly overlay: Uint8Array;
  readonly checksum: string;
  readonly contentChecksum: string;
  readonly contentBytes: number;
  readonly configVersion: number;
}

const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 8_000;

/** A failure with a short, countable reason and an optional retry hint. */
class AgentError extends Error {
  constructor(readonly reason: string, readonly retryAfterMs?: number) {
    super(reason);
  }
}

type BootClient = InstanceType<typeof BootConfigServiceClient>;

/** A boot client on its own HTTP/2 connection. */
export function bootClient(address: string, channel: number): BootClient {
  return new BootConfigServiceClient(address, credentials.createInsecure(), {
    "grpc.use_local_subchannel_pool": 1,
    "grpc.max_receive_message_length": 16 * 1024 * 1024,
    // Distinct options keep grpc-js from merging channels.
    "pact.bench.channel": channel,
  });
}

/** Streams one boot config and verifies it. */
export async function bootOnce(
  client: BootClient,
  token: string,
  nodeId: string,
  vclusterId: string,
  deadline: number,
): Promise<Booted> {
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  const call: ClientReadableStream<BootConfigChunk> = client.streamBootConfig(
    { nodeId, vclusterId },
    metadata,
    { deadline },
  );
  const chunks: Uint8Array[] = [];
  let header: { checksum: string; contentChecksum: string; contentBytes: number; total: number } = {
    checksum: "",
    contentChecksum: "",
    contentBytes: 0,
    total: 0,
  };
  let configVersion: number | undefined;
  try {
    for await (const message of call) {
      const chunk = (message as BootConfigChunk).chunk;
      if (chunk?.$case === "overlay") {
        const c = chunk.value;
        if (c.chunkIndex !== chunks.length) throw new AgentError("chunk out of order");
        header = {
          checksum: c.checksum,
          contentChecksum: c.contentChecksum,
          contentBytes: c.contentBytes,
          total: c.totalChunks,
        };
        chunks.push(c.data);
      } else if (chunk?.$case === "nodeDelta") {
        if (sha256(chunk.value.data) !== chunk.value.checksum) {
          throw new AgentError("node delta checksum mismatch");
        }
      } else if (chunk?.$case === "complete") {
        configVersion = chunk.value.configVersion;
      }
    }
  } catch (err) {
    if (err instanceof AgentError) throw err;
    throw grpcFailure(err as ServiceError);
  }
  if (configVersion === undefined) throw new AgentError("no completion marker");
  if (chunks.length === 0 || chunks.length !== header.total) {
    throw new AgentError(`got ${chunks.length} of ${header.total} overlay chunks`);
  }
  const overlay = Buffer.concat(chunks);
  verifyOverlay(overlay, header.checksum, header.contentChecksum, header.contentBytes);
  return {
    overlayBytes: overlay.length,
    overlay,
    checksum: header.checksum,
    contentChecksum: header.contentChecksum,
    contentBytes: header.contentBytes,
    configVersion,
  };
}

/** Reads the overlay key from etcd and verifies it as an agent would. */
async function etcdBootOnce(client: Etcd3, job: AgentsJob, deadline: number): Promise<number> {
  let value: Buffer | null;
  try {
    value = await client.get(job.etcdKey).options({ deadline }).buffer();
  } catch (err) {
    throw new AgentError(`etcd: ${(err as Error).constructor.name}: ${(err as Error).message}`);
  }
  if (value === null) throw new AgentError("etcd: overlay key missing");
  verifyOverlay(value, job.checksum, job.contentChecksum, job.contentBytes);
  return value.length;
}

/** Checks the compressed checksum, inflates, checks the length and the content checksum. */
function verifyOverlay(
  data: Uint8Array,
  checksum: string,
  contentChecksum: string,
  contentBytes: number,
): void {
  if (sha256(data) !== checksum) throw new AgentError("overlay checksum mismatch");
  const content = zstdDecompressSync(data, { maxOutputLength: Math.max(1, contentBytes) });
  if (content.length !== contentBytes) throw new AgentError("overlay length mismatch");
  if (sha256(content) !== contentChecksum) throw new AgentError("overlay content mismatch");
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

const GRPC_CODES: Record<number, string> = {
  1: "CANCELLED",
  2: "UNKNOWN",
  4: "DEADLINE_EXCEEDED",
  8: "RESOURCE_EXHAUSTED",
  13: "INTERNAL",
  14: "UNAVAILABLE",
};

function grpcFailure(err: ServiceError): AgentError {
  const code = err.metadata?.get("pact-error-code")[0];
  const hint = Number(err.metadata?.get("retry-after-ms")[0]);
  const name = typeof code === "string" ? code : (GRPC_CODES[err.code ?? -1] ?? `grpc ${err.code}`);
  // The first words of the details tell a refusal from a reset connection.
  const details = (err.details ?? "").replace(/[0-9.:]+/g, "#").slice(0, 60);
  const reason = details === "" ? name : `${name}: ${details}`;
  return new AgentError(reason, Number.isFinite(hint) && hint > 0 ? hint : undefined);
}

/** Runs every agent of `job` from `start()` on; `ready` resolves once all connections are up. */
export async function runAgents(
  job: AgentsJob,
  ready: () => Promise<void>,
): Promise<AgentsReport> {
  const channels = Math.ceil(job.agents / job.agentsPerChannel);
  const failures: Record<string, number> = {};
  const retries: Record<string, number> = {};
  const latenciesMs: number[] = [];
  let overlayBytes = 0;
  const count = (
    map: Record<string, number>,
    reason: string,
  ) => (map[reason] = (map[reason] ?? 0) + 1);

  let bootAgent: (agent: number, deadline: number) => Promise<number>;
  let close: () => void;
  if (job.kind === "journal") {
    const clients = Array.from(
      { length: channels },
      (_, c) => bootClient(job.endpoints[c % job.endpoints.length]!, c),
    );
    await Promise.all(
      clients.map((client) =>
        new Promise<void>((resolve, reject) =>
          client.waitForReady(Date.now() + 30_000, (err) => (err ? reject(err) : resolve()))
        )
      ),
    );
    bootAgent = async (agent, deadline) =>
      (await bootOnce(
        clients[agent % channels]!,
        job.token,
        job.withNodeId ? `${job.nodePrefix}${job.firstAgent + agent}` : "",
        job.vclusterId,
        deadline,
      )).overlayBytes;
    close = () => clients.forEach((c) => c.close());
  } else {
    const clients = Array.from(
      { length: channels },
      (_, c) => new Etcd3({ hosts: [job.endpoints[c % job.endpoints.length]!] }),
    );
    // One read each opens every connection before the start.
    await Promise.all(clients.map((c) => c.get(`${job.etcdKey}/warm-up`).string()));
    bootAgent = (agent, deadline) => etcdBootOnce(clients[agent % channels]!, job, deadline);
    close = () => clients.forEach((c) => c.close());
  }

  await ready();
  const started = performance.now();
  const giveUpAt = started + job.deadlineMs;
  await Promise.all(Array.from({ length: job.agents }, async (_, agent) => {
    for (let attempt = 0;; attempt++) {
      try {
        overlayBytes = await bootAgent(agent, Date.now() + (giveUpAt - performance.now()));
        latenciesMs.push(performance.now() - started);
        return;
      } catch (err) {
        const e = err instanceof AgentError ? err : new AgentError(String(err));
        // The journal's hint when it gives one, else exponential backoff with jitter.
        const backoff = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** attempt);
        const wait = e.retryAfterMs ?? backoff * (0.5 + Math.random() / 2);
        if (performance.now() + wait >= giveUpAt) {
          count(failures, e.reason);
          return;
        }
        count(retries, e.reason);
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }));
  const elapsedMs = performance.now() - started;
  close();
  return {
    agents: job.agents,
    ok: latenciesMs.length,
    latenciesMs,
    failures,
    retries,
    elapsedMs,
    channels,
    overlayBytes,
  };
}

async function main(): Promise<void> {
  const job = JSON.parse(Deno.args[0]!) as AgentsJob;
  const encoder = new TextEncoder();
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
  const report = await runAgents(job, async () => {
    await Deno.stdout.write(encoder.encode("ready\n"));
    await lines.read();
  });
  await Deno.stdout.write(encoder.encode(`${JSON.stringify(report)}\n`));
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    console.error("[boot-agents] FAILED:", err);
    Deno.exit(1);
  }
}
