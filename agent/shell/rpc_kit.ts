/**
 * What every RPC module of the shell server shares: authentication of the
 * call's bearer token, the mapping of thrown errors to gRPC statuses, and
 * the shape of a unary handler. Feature modules (services, exec, shell,
 * diag, node config) build their handlers from a RpcKit, so the server
 * itself never changes when one is added.
 */
import {
  type handleUnaryCall,
  Metadata,
  status,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { Principal } from "../../shared/auth/principal.ts";
import { isPactError } from "../../shared/errors/mod.ts";
import { ERROR_CODE_KEY, grpcStatusFor } from "../../journal/service/grpc_status.ts";

/** Validates the call's bearer token; throws PactError UNAUTHENTICATED. */
export type Authenticate = (metadata: Metadata) => Promise<Principal>;

/** A gRPC error object as grpc-js handlers pass it to callbacks and `emit("error")`. */
export interface RpcError {
  readonly code: number;
  readonly details: string;
  readonly metadata: Metadata;
}

/** The shared pieces a feature module builds its handlers from. */
export interface RpcKit {
  readonly authenticate: Authenticate;
  /** Maps a thrown value to a gRPC status (and logs refusals and failures). */
  readonly fail: (method: string, err: unknown) => RpcError;
  /** A unary handler: authenticate, run `body`, answer or map the error. */
  unary<Req, Res>(
    method: string,
    body: (request: Req, principal: Principal) => Promise<Res>,
  ): handleUnaryCall<Req, Res>;
  readonly log: (line: string) => void;
}

/** Handlers of some ShellService (or other service) methods, by method name. */
export type Handlers = UntypedServiceImplementation;

/** Builds the kit around an authenticator and a log. */
export function rpcKit(authenticate: Authenticate, log: (line: string) => void): RpcKit {
  const fail = (method: string, err: unknown) => toStatus(method, err, log);
  return {
    authenticate,
    fail,
    log,
    unary: (method, body) => (call, callback) => {
      authenticate(call.metadata)
        .then((principal) => body(call.request, principal))
        .then((response) => callback(null, response), (err) => callback(fail(method, err)));
    },
  };
}

/** A handler that answers UNIMPLEMENTED, for unary and streaming methods alike. */
export function unimplemented(method: string, what: string) {
  return (call: unknown, callback?: unknown) => {
    const error: RpcError = {
      code: status.UNIMPLEMENTED,
      details: `${method} is not implemented on this agent yet (${what})`,
      metadata: new Metadata(),
    };
    if (typeof callback === "function") callback(error);
    else (call as { emit(event: string, error: unknown): void }).emit("error", error);
  };
}

/** Maps a thrown value to a gRPC status once, at the boundary. */
export function toStatus(method: string, err: unknown, log: (line: string) => void): RpcError {
  const metadata = new Metadata();
  if (isPactError(err)) {
    metadata.set(ERROR_CODE_KEY, err.code);
    log(`shell: ${method} refused: ${err.code}: ${err.message}`);
    return { code: grpcStatusFor(err.code), details: err.message, metadata };
  }
  log(`shell: ${method} failed: ${(err as Error)?.stack ?? err}`);
  metadata.set(ERROR_CODE_KEY, "INTERNAL");
  return {
    code: status.INTERNAL,
    details: `${method} failed on the agent: ${(err as Error)?.message ?? err}`,
    metadata,
  };
}
