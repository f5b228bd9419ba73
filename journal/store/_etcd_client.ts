import { Buffer } from "node:buffer";
import { isIP } from "node:net";
import {
  BrokenCircuitError,
  circuitBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleWhen,
  retry,
} from "cockatiel";
import { Etcd3, GRPCDeadlineExceededError, GRPCUnavailableError, isRecoverableError } from "etcd3";
import { PactError } from "../../shared/errors/mod.ts";

/** TLS material for etcd's client port, as PEM bytes (pact's CA signs both sides). */
export interface EtcdTls {
  /** CA certificate(s) that signed the etcd members' certificates. */
  readonly ca: Uint8Array;
  /** Client certificate chain, for etcd's `--client-cert-auth`. */
  readonly cert?: Uint8Array;
  /** Private key of `cert`. */
  readonly key?: Uint8Array;
  /**
   * The DNS name to verify the members' certificates against, instead of
   * each endpoint's host. Required when endpoints are IP addresses: Deno's
   * TLS refuses an IP address as server name (Node only warns), so pact's
   * CA puts one shared DNS name in every member certificate.
   */
  readonly serverName?: string;
}

/** Where etcd listens and how to reach it. */
export interface EtcdConnectOptions {
  /** Client URLs, e.g. `https://10.0.0.1:2379`. */
  readonly endpoints: readonly string[];
  readonly tls?: EtcdTls;
}

/**
 * The largest gRPC message a client we create accepts. grpc-js's default
 * (4 MiB) is smaller than one page of large records; reads also halve
 * their page on RESOURCE_EXHAUSTED, so a client made elsewhere still works.
 */
const RECEIVE_BYTES_MAX = 64 * 1024 * 1024;

/** Creates an etcd3 client for `options` (the caller closes it). */
export function connectEtcd(options: EtcdConnectOptions): Etcd3 {
  if (options.endpoints.length === 0) throw new TypeError("etcd needs at least one endpoint");
  const tls = options.tls;
  const ipEndpoint = options.endpoints.find((e) => isIP(hostOf(e)) !== 0);
  if (tls !== undefined && tls.serverName === undefined && ipEndpoint !== undefined) {
    throw new TypeError(
      `Cannot use TLS with etcd endpoint ${ipEndpoint}: an IP address needs tls.serverName`,
    );
  }
  return new Etcd3({
    hosts: [...options.endpoints],
    ...(tls === undefined ? {} : {
      credentials: {
        rootCertificate: Buffer.from(tls.ca),
        ...(tls.key === undefined ? {} : { privateKey: Buffer.from(tls.key) }),
        ...(tls.cert === undefined ? {} : { certChain: Buffer.from(tls.cert) }),
      },
    }),
    faultHandling: {
      // A call that could not reach its member moves on to the next one
      // (a dead member is one of them until its breaker opens). Other
      // failures come back at once: the store retries them until its own
      // deadline, and only the caller knows whether a write may repeat.
      global: retry(handleWhen(isConnectionFailure), { maxAttempts: options.endpoints.length }),
      // Skip a member for 2 s after two connection failures in a row. The
      // default breaker also counts answers such as NOSPACE or a
      // too-large response, and then refuses every call for 5 s.
      host: () =>
        circuitBreaker(handleWhen(isConnectionFailure), {
          halfOpenAfter: 2_000,
          breaker: new ConsecutiveBreaker(2),
        }),
      // A broken watch stream reconnects within 3 s (default: up to 30 s).
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 3_000 }).next(),
    },
    grpcOptions: {
      "grpc.max_receive_message_length": RECEIVE_BYTES_MAX,
      // Finds a dead connection (a member frozen or cut off) within ~15 s.
      // etcd refuses pings more often than every 5 s (--grpc-keepalive-min-time).
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
      ...(tls?.serverName === undefined ? {} : { "grpc.ssl_target_name_override": tls.serverName }),
    },
  });
}

/** The host of an endpoint URL (or `host:port`), without IPv6 brackets. */
function hostOf(endpoint: string): string {
  const url = URL.parse(endpoint.includes("://") ? endpoint : `http://${endpoint}`);
  return (url?.hostname ?? "").replace(/^\[(.*)\]$/, "$1");
}

/**
 * True for failures worth retrying: the member is unreachable, has no
 * leader, lost its leader mid-request, or timed out. A write that failed
 * this way may still have been committed.
 */
export function isTransientEtcdError(err: unknown): boolean {
  if (!(err instanceof Error) || isNoSpaceError(err) || isTooLargeResponse(err)) return false;
  if (isRecoverableError(err)) return true;
  if (isBrokenCircuit(err)) return true;
  return /deadline exceeded|leader changed|no leader|request timed out|too many requests|unavailable|connection|no hosts|ECONNREFUSED|ECONNRESET/i
    .test(err.message);
}

/** True when the client skipped a member whose recent calls failed (see `connectEtcd`). */
export function isBrokenCircuit(err: unknown): boolean {
  return err instanceof BrokenCircuitError;
}

/** The member could not be reached or did not answer in time. */
function isConnectionFailure(err: Error): boolean {
  return err instanceof GRPCUnavailableError || err instanceof GRPCDeadlineExceededError;
}

/** True when etcd refused a request because the NOSPACE alarm is active. */
export function isNoSpaceError(err: unknown): boolean {
  return err instanceof Error && /database space exceeded/i.test(err.message);
}

/** True when the client is closed. */
export function isClosedError(err: unknown): boolean {
  return err instanceof Error && /client was already closed/i.test(err.message);
}

/** True when a response was larger than the client accepts. */
export function isTooLargeResponse(err: unknown): boolean {
  return err instanceof Error && /larger than max/i.test(err.message);
}

/** `etcd at <endpoints>`, or just `etcd` when they are not known. */
export function etcdAt(endpoints: string): string {
  return endpoints === "" ? "etcd" : `etcd at ${endpoints}`;
}

/** Maps an etcd failure to the PactError the journal surfaces. */
export function etcdFailure(err: unknown, action: string, endpoints: string): Error {
  if (err instanceof PactError || err instanceof TypeError || err instanceof RangeError) return err;
  const where = etcdAt(endpoints);
  const reason = firstLine(err instanceof Error ? err.message : String(err));
  const [code, message] = isNoSpaceError(err)
    ? [
      "RESOURCE_EXHAUSTED" as const,
      `${where} is out of space (NOSPACE alarm): compact, defragment and disarm it`,
    ]
    : isTooLargeResponse(err)
    ? ["RESOURCE_EXHAUSTED" as const, `the answer from ${where} is too large: ${reason}`]
    : isTransientEtcdError(err) || isClosedError(err)
    ? ["UNAVAILABLE" as const, `${where} is unavailable: ${reason}`]
    : ["INTERNAL" as const, `${where} failed: ${reason}`];
  return new PactError(code, `Cannot ${action}: ${message}`, { cause: err });
}

/** The first line of a gRPC message, without grpc-js and etcd3 boilerplate. */
function firstLine(text: string): string {
  return text.split("\n", 1)[0]!
    .replace(/ Please report this error at \S+$/, "")
    .replace(/\.? Resolution note:.*$/, "")
    .trim();
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
