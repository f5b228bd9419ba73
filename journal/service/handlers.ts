import type {
  handleServerStreamingCall,
  handleUnaryCall,
  Metadata,
  ServerUnaryCall,
  ServerWritableStream,
} from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import type { PeerCertificate } from "node:tls";
import { getLogger } from "@logtape/logtape";
import type { Principal } from "../../shared/auth/principal.ts";
import type { TokenVerifier } from "../../shared/auth/token_verifier.ts";
import { parseRole, SERVICE_AGENT } from "../../shared/domain/roles.ts";
import { isPactError, PactError } from "../../shared/errors/mod.ts";
import type { JournalMetrics } from "../metrics.ts";
import { authenticate, bearerToken } from "./authn.ts";
import { toStatusError } from "./grpc_status.ts";
import {
  CLIENT_CERT_REFUSED,
  FORWARDED_NODE_HEADER,
  FORWARDED_SERIAL_HEADER,
  FORWARDED_SOURCE_HEADER,
  type MachineIdentity,
  type PeerVerifier,
} from "./peer_identity.ts";

const log = getLogger(["pact", "journal", "grpc"]);

/** What every handler gets besides its request. */
export interface RequestContext {
  readonly principal: Principal;
  /** The caller's bearer token, already verified (a read replica forwards it with a write). */
  readonly token: string;
  /** Aborted when the client cancels or the deadline passes. */
  readonly signal: AbortSignal;
  /** The node whose client certificate (mTLS) made the call; undefined without one. */
  readonly machine: MachineIdentity | undefined;
}

/** Shared by all handlers: token checks and metrics. */
export interface HandlerDeps {
  readonly verifier: TokenVerifier;
  readonly metrics: JournalMetrics;
  /**
   * Set when the gRPC port runs TLS: identifies client certificates, and
   * agent RPCs then need one whose node matches (see `requireNodeCaller`).
   */
  readonly peers?: PeerVerifier | undefined;
}

/** What `run` reads from a call besides its request. */
interface CallSource {
  readonly metadata: Metadata;
  getAuthContext(): { readonly sslPeerCertificate?: PeerCertificate | undefined };
}

/** Adapts an async function to a grpc-js unary handler with auth, metrics and error mapping. */
export function unary<Req, Res>(
  deps: HandlerDeps,
  method: string,
  body: (request: Req, context: RequestContext) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback) => {
    const started = performance.now();
    const controller = abortOnCancel(call);
    run(deps, call, controller.signal, (context) => body(call.request, context)).then(
      (response) => {
        deps.metrics.grpcRequests.inc({ method, code: "OK" });
        deps.metrics.grpcSeconds.observe({ method }, (performance.now() - started) / 1000);
        callback(null, response);
      },
      (err) => {
        const error = toStatusError(err);
        deps.metrics.grpcRequests.inc({ method, code: status[error.code] });
        logFailure(method, err);
        callback(error);
      },
    );
  };
}

/**
 * Like `unary`, but without a token: only for Enroll, the one RPC a node
 * calls before it has any identity (it is rate-limited instead).
 */
export function anonymousUnary<Req, Res>(
  deps: Pick<HandlerDeps, "metrics">,
  method: string,
  body: (request: Req, signal: AbortSignal) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback) => {
    const started = performance.now();
    const controller = abortOnCancel(call);
    body(call.request, controller.signal).then(
      (response) => {
        deps.metrics.grpcRequests.inc({ method, code: "OK" });
        deps.metrics.grpcSeconds.observe({ method }, (performance.now() - started) / 1000);
        callback(null, response);
      },
      (err) => {
        const error = toStatusError(err);
        deps.metrics.grpcRequests.inc({ method, code: status[error.code] });
        logFailure(method, err);
        callback(error);
      },
    );
  };
}

/** Adapts an async producer to a grpc-js server-streaming handler; `send` honours backpressure. */
export function serverStream<Req, Res>(
  deps: HandlerDeps,
  method: string,
  body: (
    request: Req,
    context: RequestContext,
    send: (message: Res) => Promise<void>,
  ) => Promise<void>,
): handleServerStreamingCall<Req, Res> {
  return (call: ServerWritableStream<Req, Res>) => {
    const controller = abortOnCancel(call);
    const send = (message: Res): Promise<void> => {
      if (controller.signal.aborted || call.write(message)) return Promise.resolve();
      return new Promise((resolve) => {
        call.once("drain", resolve);
        controller.signal.addEventListener("abort", () => resolve(), { once: true });
      });
    };
    run(deps, call, controller.signal, (context) => body(call.request, context, send))
      .then(
        () => {
          deps.metrics.grpcRequests.inc({ method, code: "OK" });
          if (!controller.signal.aborted) call.end();
        },
        (err) => {
          const error = toStatusError(err);
          deps.metrics.grpcRequests.inc({ method, code: status[error.code] });
          logFailure(method, err);
          if (!controller.signal.aborted) call.emit("error", error);
        },
      );
  };
}

async function run<T>(
  deps: HandlerDeps,
  call: CallSource,
  signal: AbortSignal,
  body: (context: RequestContext) => Promise<T>,
): Promise<T> {
  const { metadata } = call;
  const peer = deps.peers && call.getAuthContext().sslPeerCertificate;
  const forwarded = metadata.get(FORWARDED_NODE_HEADER)[0];
  if (forwarded !== undefined && !(deps.peers && peer)) {
    // Only a journal's mTLS connection may speak for a node; anyone else is refused.
    deps.metrics.authFailures.inc({ reason: "client_certificate" });
    throw Object.assign(
      new PactError(
        "UNAUTHENTICATED",
        `Forwarded identity refused: ${FORWARDED_NODE_HEADER} is accepted only from a journal of this quorum over mTLS`,
      ),
      { rule: CLIENT_CERT_REFUSED },
    );
  }
  if (deps.peers && peer) {
    // A node's certificate is its credential: the node acts as the agent service.
    let machine: MachineIdentity;
    try {
      machine = forwarded === undefined
        ? await deps.peers.identify(peer)
        : await deps.peers.identifyForwarded(peer, {
          nodeId: String(forwarded),
          serial: String(metadata.get(FORWARDED_SERIAL_HEADER)[0] ?? ""),
          source: metadata.get(FORWARDED_SOURCE_HEADER)[0] === "spiffe" ? "spiffe" : "journal-ca",
        });
    } catch (err) {
      deps.metrics.authFailures.inc({ reason: "client_certificate" });
      throw err;
    }
    const principal: Principal = {
      principal: `node/${machine.nodeId}`,
      principalType: "agent",
      role: SERVICE_AGENT,
    };
    // A decommission ends the node's calls in progress (streams) as well.
    const call = new AbortController();
    const cancel = () => call.abort();
    signal.addEventListener("abort", cancel, { once: true });
    let revoked: PactError | undefined;
    const untrack = deps.peers.track(machine, (error) => {
      revoked = error;
      call.abort();
    });
    try {
      const result = await body({ principal, token: "", signal: call.signal, machine });
      if (revoked) throw revoked;
      return result;
    } catch (err) {
      throw revoked ?? err;
    } finally {
      untrack();
      signal.removeEventListener("abort", cancel);
    }
  }
  if (deps.peers && bearerToken(metadata) === undefined) {
    deps.metrics.authFailures.inc({ reason: "client_certificate" });
    throw Object.assign(
      new PactError(
        "UNAUTHENTICATED",
        "No credentials: present a client certificate from the journal's current CA (agents) or a bearer token",
      ),
      { rule: CLIENT_CERT_REFUSED },
    );
  }
  const principal = await authenticate(
    deps.verifier,
    metadata,
    (reason) => deps.metrics.authFailures.inc({ reason }),
  );
  return await body({ principal, token: bearerToken(metadata) ?? "", signal, machine: undefined });
}

/**
 * With TLS on the gRPC port, an agent's call about node `nodeId` must come
 * with that node's client certificate: UNAUTHENTICATED without one,
 * PERMISSION_DENIED for another node's. Admins and services are not
 * affected, nor is anything when the port runs without TLS.
 */
export function requireNodeCaller(
  deps: Pick<HandlerDeps, "peers">,
  context: Pick<RequestContext, "principal" | "machine">,
  nodeId: string | undefined,
  what: string,
): void {
  if (!deps.peers) return;
  if (parseRole(context.principal.role).kind !== "service-agent") return;
  const machine = context.machine;
  if (!machine) {
    throw new PactError(
      "UNAUTHENTICATED",
      `${what} is an agent call: present the node's client certificate (mTLS), a token is not enough`,
    );
  }
  if (nodeId !== undefined && nodeId !== machine.nodeId) {
    throw new PactError(
      "PERMISSION_DENIED",
      `${what} for node ${
        JSON.stringify(nodeId)
      } refused: the client certificate belongs to node ${machine.nodeId}`,
    );
  }
}

function abortOnCancel(
  call: { on(event: "cancelled", listener: () => void): unknown },
): AbortController {
  const controller = new AbortController();
  call.on("cancelled", () => controller.abort());
  return controller;
}

function logFailure(method: string, err: unknown): void {
  if (isPactError(err)) {
    log.debug("{method} refused: {code} {message}", {
      method,
      code: err.code,
      message: err.message,
    });
  } else {
    log.error("{method} failed: {error}", { method, error: err });
  }
}
