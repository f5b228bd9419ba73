import type {
  handleServerStreamingCall,
  handleUnaryCall,
  Metadata,
  ServerUnaryCall,
  ServerWritableStream,
} from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { getLogger } from "@logtape/logtape";
import type { Principal } from "../../shared/auth/principal.ts";
import type { TokenVerifier } from "../../shared/auth/token_verifier.ts";
import { isPactError } from "../../shared/errors/mod.ts";
import type { JournalMetrics } from "../metrics.ts";
import { authenticate, bearerToken } from "./authn.ts";
import { toStatusError } from "./grpc_status.ts";

const log = getLogger(["pact", "journal", "grpc"]);

/** What every handler gets besides its request. */
export interface RequestContext {
  readonly principal: Principal;
  /** The caller's bearer token, already verified (a read replica forwards it with a write). */
  readonly token: string;
  /** Aborted when the client cancels or the deadline passes. */
  readonly signal: AbortSignal;
}

/** Shared by all handlers: token checks and metrics. */
export interface HandlerDeps {
  readonly verifier: TokenVerifier;
  readonly metrics: JournalMetrics;
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
    run(deps, call.metadata, controller.signal, (context) => body(call.request, context)).then(
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
    run(deps, call.metadata, controller.signal, (context) => body(call.request, context, send))
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
  metadata: Metadata,
  signal: AbortSignal,
  body: (context: RequestContext) => Promise<T>,
): Promise<T> {
  const principal = await authenticate(
    deps.verifier,
    metadata,
    (reason) => deps.metrics.authFailures.inc({ reason }),
  );
  return await body({ principal, token: bearerToken(metadata) ?? "", signal });
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
