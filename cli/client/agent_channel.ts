/**
 * How the CLI connects to an agent's shell server: plaintext for
 * `http://`, TLS for `https://` trusting the CA bundle the CLI trusts for
 * the journal (grpc-js's roots: `GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`) and
 * accepting only a certificate that names the node addressed (its DNS
 * SAN, as the journal's CA issues them). A connect timeout, separate from
 * each call's deadline, fails a call whose connection is not up in time,
 * and connection failures become one-line reasons (wrong CA, another
 * node's certificate, TLS against plaintext and the reverse).
 */
import {
  type ChannelCredentials,
  type ChannelOptions,
  connectivityState,
  credentials,
  InterceptingCall,
  type Interceptor,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import { isIP } from "node:net";
import { Buffer } from "node:buffer";
import { PactError } from "../../shared/errors/mod.ts";
import { parseEndpoint } from "./endpoint.ts";

/** Default time to set up an agent connection (TCP and TLS). */
export const AGENT_CONNECT_TIMEOUT_MS_DEFAULT = 5_000;

/** What the channel to one agent is built from. */
export interface AgentChannelOptions {
  readonly endpoint: string;
  /** Default port when the endpoint names none. */
  readonly defaultPort: number;
  /** The node addressed; undefined: the endpoint's host name. */
  readonly nodeId?: string | undefined;
  /** PEM CA bundle; undefined: grpc-js's roots, as for the journal. */
  readonly caPem?: Uint8Array | undefined;
  readonly connectTimeoutMs?: number | undefined;
}

/** A channel description ready for a grpc-js client. */
export interface AgentChannel {
  readonly address: string;
  readonly tls: boolean;
  /** The name the certificate must carry (TLS only). */
  readonly nodeId: string | undefined;
  readonly credentials: ChannelCredentials;
  readonly options: ChannelOptions;
  readonly connectTimeoutMs: number;
}

/** Builds the channel description; INVALID_ARGUMENT when TLS has no name to check. */
export function agentChannel(options: AgentChannelOptions): AgentChannel {
  const { address, tls } = parseEndpoint(options.endpoint, options.defaultPort);
  const connectTimeoutMs = options.connectTimeoutMs ?? AGENT_CONNECT_TIMEOUT_MS_DEFAULT;
  if (!tls) {
    return {
      address,
      tls,
      nodeId: undefined,
      credentials: credentials.createInsecure(),
      options: {},
      connectTimeoutMs,
    };
  }
  const host = new URL(options.endpoint).hostname.replace(/^\[|\]$/g, "");
  const nodeId = options.nodeId ?? (isIP(host) === 0 ? host : undefined);
  if (nodeId === undefined) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Cannot check the certificate of the agent at ${options.endpoint}: ` +
        "name the node (e.g. --node <node>) that it must carry",
    );
  }
  return {
    address,
    tls,
    nodeId,
    credentials: credentials.createSsl(
      options.caPem ? Buffer.from(options.caPem) : null,
      null,
      null,
      { checkServerIdentity: (_name, cert) => certificateNamesNode(nodeId, cert.subjectaltname) },
    ),
    // The node id is the TLS server name whatever address is dialed (loopback, moved ports).
    options: { "grpc.ssl_target_name_override": nodeId, "grpc.default_authority": nodeId },
    connectTimeoutMs,
  };
}

/** Undefined when `subjectAltName` has `DNS:<nodeId>`, else the refusal. */
export function certificateNamesNode(
  nodeId: string,
  subjectAltName: string | undefined,
): Error | undefined {
  const names = (subjectAltName ?? "").split(",").map((name) => name.trim()).filter(Boolean);
  if (names.some((name) => name.toLowerCase() === `dns:${nodeId.toLowerCase()}`)) return undefined;
  const dns = names.filter((name) => name.startsWith("DNS:")).map((name) => name.slice(4));
  return new Error(
    `${CERT_MISMATCH} ${dns.length > 0 ? dns.join(", ") : "no node"}, not node ${nodeId}`,
  );
}

const CERT_MISMATCH = "pact: agent certificate is for";

/**
 * A client interceptor that holds each call until the channel is connected
 * and fails it with UNAVAILABLE after `timeoutMs` (a host that drops
 * packets, a TLS handshake that never ends). A connection that fails
 * outright lets the call through, so grpc-js reports its cause.
 */
export function connectTimeout(channelOf: () => Connectivity, timeoutMs: number): Interceptor {
  return (options, nextCall) => {
    let settled = false;
    const call: InterceptingCall = new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        void connected(channelOf(), timeoutMs).then((up) => {
          if (settled) return;
          settled = true;
          next(metadata, listener);
          if (!up) {
            call.cancelWithStatus(
              status.UNAVAILABLE,
              `${CONNECT_TIMEOUT} ${timeoutMs / 1000} s (PACT_AGENT_CONNECT_TIMEOUT)`,
            );
          }
        });
      },
      cancel(next) {
        settled = true;
        next();
      },
    });
    return call;
  };
}

const CONNECT_TIMEOUT = "no connection within";

/** The part of a grpc-js channel the connect timeout watches. */
export interface Connectivity {
  getConnectivityState(tryToConnect: boolean): connectivityState;
  watchConnectivityState(
    current: connectivityState,
    deadline: Date | number,
    callback: (error?: Error) => void,
  ): void;
}

/** True once the channel is ready or failed; false when `timeoutMs` passed first. */
function connected(channel: Connectivity, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const check = () => {
      const state = channel.getConnectivityState(true);
      if (
        state === connectivityState.READY || state === connectivityState.TRANSIENT_FAILURE ||
        state === connectivityState.SHUTDOWN
      ) {
        resolve(true);
        return;
      }
      channel.watchConnectivityState(state, deadline, (error) => error ? resolve(false) : check());
    };
    check();
  });
}

/**
 * The one-line PactError for a connection failure that TLS explains, or
 * undefined to let the generic mapping speak.
 */
export function agentConnectionError(
  error: ServiceError,
  channel: Pick<AgentChannel, "tls" | "nodeId">,
  endpoint: string,
): PactError | undefined {
  if (error.code !== status.UNAVAILABLE) return undefined;
  const details = lastError(error.details || error.message);
  const reason = tlsReason(details, channel);
  if (reason === undefined) return undefined;
  return new PactError("UNAVAILABLE", `Agent at ${endpoint}: ${reason}`);
}

function tlsReason(details: string, channel: Pick<AgentChannel, "tls" | "nodeId">) {
  if (details.startsWith(CONNECT_TIMEOUT)) return details;
  if (!channel.tls) {
    // A TLS server drops the plaintext HTTP/2 preface at once.
    return /Failed to connect|EPIPE|ECONNRESET|Connection dropped|socket hang up|Protocol error/i
        .test(details)
      ? "connection dropped during setup: the agent may serve TLS only (use https://host:port)"
      : undefined;
  }
  if (details.includes(CERT_MISMATCH)) {
    return `refused: ${details.slice(details.indexOf(CERT_MISMATCH) + "pact: ".length)}`;
  }
  if (
    /wrong version number|InvalidContentType|packet length too long|HandshakePayload/i.test(details)
  ) {
    return "TLS handshake failed: the agent serves plaintext (use http://host:port)";
  }
  if (
    /unable to verify|self[- ]signed|unable to get (local )?issuer|certificate signature|UnknownIssuer|BadSignature|certificate has expired|CERT_/i
      .test(details)
  ) {
    return `refused: its certificate is not trusted (${details}); the CLI trusts the CA bundle ` +
      "in GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, as for the journal";
  }
  return undefined;
}

/** grpc-js's `No connection established. Last error: Error: X. Resolution note: ` → `X`. */
function lastError(details: string): string {
  const last = /Last error: (?:Error(?: \[[A-Z_]+\])?: )?(.*?)(?:\. Resolution note:.*)?$/s.exec(
    details,
  );
  return (last?.[1] ?? details).split("\n", 1)[0]!.replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)$/, "");
}
