/**
 * Pulls the node's boot config from the journal: StreamBootConfig on each
 * configured endpoint in turn, every message checked before it is used.
 * An unreachable or busy journal is retried (after the journal's
 * `retry-after-ms` when it gives one, else with a doubling backoff) until
 * `waitMs` is spent; a journal that refuses (bad token, unknown vCluster)
 * or sends a config that fails a check is not asked again.
 */
import { Buffer } from "node:buffer";
import { backoffDelayMs } from "../../shared/backoff.ts";
import {
  type ClientReadableStream,
  credentials,
  Metadata,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import {
  type BootConfigChunk,
  BootConfigServiceClient,
} from "../../shared/proto/gen/pact/stream/stream.ts";
import { type BootConfig, verifyBootConfig } from "./boot_config.ts";
import { BootError } from "./boot_error.ts";

/** mTLS files for the journal connection. */
export interface JournalTls {
  readonly ca: Uint8Array;
  readonly key: Uint8Array;
  readonly cert: Uint8Array;
  /** Name the journal's certificate is checked against instead of the endpoint's host. */
  readonly serverName?: string | undefined;
}

/** What to ask for, where, and how long to try. */
export interface PullOptions {
  /** `host:port` of each journal, tried in order. */
  readonly endpoints: readonly string[];
  /** Bearer token; "" sends none (the client certificate of `tls` authenticates). */
  readonly token: string;
  readonly tls: JournalTls | undefined;
  readonly nodeId: string;
  /** Empty: the vCluster the journal has the node assigned to. */
  readonly vclusterId: string;
  /** The cached config's version: the journal then answers "unchanged" if it still holds. */
  readonly lastKnownVersion: number | undefined;
  /** Total time to find a journal that answers. */
  readonly waitMs: number;
  /** Longest one stream may take. */
  readonly attemptTimeoutMs: number;
  readonly log: (line: string) => void;
}

/** A config one journal sent. */
export interface Pulled {
  readonly config: BootConfig;
  readonly endpoint: string;
  readonly attempts: number;
}

const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 2_000;

/** Streams and verifies the boot config; throws a BootError when no journal gives one. */
export async function pullBootConfig(options: PullOptions): Promise<Pulled> {
  if (options.endpoints.length === 0) {
    throw new BootError(
      "JOURNAL_UNREACHABLE",
      "UNAVAILABLE",
      "No journal endpoints configured ([agent.journal] endpoints)",
    );
  }
  const creds = options.tls
    ? credentials.createSsl(
      Buffer.from(options.tls.ca),
      Buffer.from(options.tls.key),
      Buffer.from(options.tls.cert),
    )
    : credentials.createInsecure();
  const clients = new Map<string, InstanceType<typeof BootConfigServiceClient>>();
  const clientOf = (endpoint: string) => {
    let client = clients.get(endpoint);
    if (client === undefined) {
      client = new BootConfigServiceClient(endpoint, creds, {
        "grpc.max_receive_message_length": 16 * 1024 * 1024,
        "grpc.initial_reconnect_backoff_ms": BACKOFF_FIRST_MS,
        "grpc.max_reconnect_backoff_ms": BACKOFF_MAX_MS,
        ...(options.tls?.serverName
          ? {
            "grpc.ssl_target_name_override": options.tls.serverName,
            "grpc.default_authority": options.tls.serverName,
          }
          : {}),
      });
      clients.set(endpoint, client);
    }
    return client;
  };
  const deadline = Date.now() + options.waitMs;
  const refused = new Map<string, BootError>();
  let unreachable: BootError | undefined;
  let attempts = 0;
  try {
    for (let round = 0;; round++) {
      let retryAfterMs: number | undefined;
      for (const endpoint of options.endpoints) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) break;
        if (refused.has(endpoint)) continue;
        attempts++;
        try {
          const messages = await streamOnce(
            clientOf(endpoint),
            options,
            Math.min(remaining, options.attemptTimeoutMs),
          );
          return { config: verifyBootConfig(messages, endpoint), endpoint, attempts };
        } catch (err) {
          const failure = err instanceof BootError
            ? err
            : failureOf(err as ServiceError, endpoint, options);
          options.log(`boot: ${failure.message}`);
          if (failure.reason === "JOURNAL_UNREACHABLE") {
            unreachable = failure;
            if (failure.retryAfterMs !== undefined) {
              retryAfterMs = Math.min(retryAfterMs ?? Infinity, failure.retryAfterMs);
            }
          } else {
            refused.set(endpoint, failure);
          }
        }
      }
      const remaining = deadline - Date.now();
      if (refused.size === options.endpoints.length || remaining <= 0) break;
      const backoff = backoffDelayMs(round, BACKOFF_FIRST_MS, BACKOFF_MAX_MS);
      await sleep(Math.min(remaining, retryAfterMs ?? backoff));
    }
  } finally {
    for (const client of clients.values()) client.close();
  }
  const firstRefusal = refused.values().next().value;
  if (firstRefusal !== undefined) throw firstRefusal;
  throw new BootError(
    "JOURNAL_UNREACHABLE",
    "UNAVAILABLE",
    `No journal reachable within ${options.waitMs} ms (${options.endpoints.join(", ")}): ${
      unreachable?.message ?? "no attempt finished"
    }`,
  );
}

async function streamOnce(
  client: InstanceType<typeof BootConfigServiceClient>,
  options: PullOptions,
  timeoutMs: number,
): Promise<BootConfigChunk[]> {
  const metadata = new Metadata();
  if (options.token !== "") metadata.set("authorization", `Bearer ${options.token}`);
  const call: ClientReadableStream<BootConfigChunk> = client.streamBootConfig(
    {
      nodeId: options.nodeId,
      vclusterId: options.vclusterId,
      lastKnownVersion: options.lastKnownVersion,
    },
    metadata,
    { deadline: Date.now() + timeoutMs },
  );
  const messages: BootConfigChunk[] = [];
  for await (const message of call) messages.push(message as BootConfigChunk);
  return messages;
}

/** Sorts a gRPC failure into "try again later" and "this journal refuses". */
function failureOf(
  err: ServiceError,
  endpoint: string,
  options: Pick<PullOptions, "token">,
): BootError {
  const details = err.details || err.message;
  const pactCode = err.metadata?.get("pact-error-code")[0];
  const hint = Number(err.metadata?.get("retry-after-ms")[0]);
  switch (err.code) {
    case status.UNAVAILABLE:
    case status.DEADLINE_EXCEEDED:
    case status.CANCELLED:
      return new BootError(
        "JOURNAL_UNREACHABLE",
        "UNAVAILABLE",
        `Journal ${endpoint} unreachable: ${unavailableReason(details)}`,
      );
    case status.RESOURCE_EXHAUSTED:
      return new BootError(
        "JOURNAL_UNREACHABLE",
        "UNAVAILABLE",
        `Journal ${endpoint} is busy: ${details}`,
        { retryAfterMs: Number.isFinite(hint) && hint > 0 ? hint : undefined },
      );
    case status.UNAUTHENTICATED:
    case status.PERMISSION_DENIED:
      return new BootError(
        "JOURNAL_REFUSED",
        err.code === status.UNAUTHENTICATED ? "UNAUTHENTICATED" : "PERMISSION_DENIED",
        `Journal ${endpoint} refused the agent's ${
          options.token === "" ? "certificate" : "token"
        }: ${details}`,
      );
    case status.NOT_FOUND:
      return new BootError("JOURNAL_REFUSED", "NOT_FOUND", `Journal ${endpoint}: ${details}`);
    default:
      return new BootError(
        "JOURNAL_REFUSED",
        "INTERNAL",
        `Journal ${endpoint} failed the boot stream (${
          typeof pactCode === "string" ? pactCode : status[err.code] ?? err.code
        }): ${details}`,
      );
  }
}

function unavailableReason(details: string): string {
  if (/ECONNREFUSED/.test(details)) return "connection refused";
  if (/Deadline exceeded|DEADLINE/i.test(details)) return "no answer before the deadline";
  return details;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
