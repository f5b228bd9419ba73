/**
 * The agent's ShellService on `[agent.shell] listen` (port 9445): every
 * call carries a bearer token that the agent validates itself against
 * `[agent.shell.auth]` (issuer, audience, JWKS or the dev HS256 secret).
 * Without that section every call is refused (fail closed). The service
 * RPCs run over ServiceOps; exec, shell, diag, commands and commit-window
 * extension answer UNIMPLEMENTED until they are built.
 */
import {
  type handleServerStreamingCall,
  type handleUnaryCall,
  Metadata,
  Server,
  ServerCredentials,
  status,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { Principal } from "../../shared/auth/principal.ts";
import { TokenVerifier } from "../../shared/auth/token_verifier.ts";
import { formatHostPort, type HostPort } from "../../shared/config/listen_address.ts";
import { isPactError, PactError } from "../../shared/errors/mod.ts";
import {
  type ServiceLogChunk,
  type ServiceLogsRequest,
  type ServiceRequest,
  ShellServiceService,
} from "../../shared/proto/gen/pact/shell/shell.ts";
import { bearerToken } from "../../journal/service/authn.ts";
import { ERROR_CODE_KEY, grpcStatusFor } from "../../journal/service/grpc_status.ts";
import type { ShellAuthSettings } from "../config.ts";
import type { ServiceOps } from "./service_ops.ts";

/** A running shell server. */
export interface ShellServer {
  /** Where it listens (the real port when 0 was asked for). */
  readonly address: HostPort;
  /** Stops accepting calls; open calls get `graceMs` before they are cut. */
  shutdown(graceMs: number): Promise<void>;
}

/** What the server needs. */
export interface ShellServerOptions {
  readonly listen: HostPort;
  /** Undefined: no `[agent.shell.auth]`, every call is refused. */
  readonly auth: ShellAuthSettings | undefined;
  readonly services: ServiceOps;
  readonly log: (line: string) => void;
}

/** The refusal every call gets when `[agent.shell.auth]` is missing. */
export const NOT_CONFIGURED_MESSAGE =
  "This agent refuses every call: [agent.shell.auth] is not configured (fail closed)";

/** Starts the gRPC server; throws PactError CONFIG when it cannot listen. */
export async function startShellServer(options: ShellServerOptions): Promise<ShellServer> {
  const verifier = options.auth
    ? new TokenVerifier({
      issuer: options.auth.issuer,
      audience: options.auth.audience,
      hmacSecret: options.auth.hmacSecret,
      jwksUrl: options.auth.jwksUrl,
    })
    : undefined;
  const authenticate = async (metadata: Metadata): Promise<Principal> => {
    if (!verifier) throw new PactError("UNAUTHENTICATED", NOT_CONFIGURED_MESSAGE);
    return await verifier.verify(bearerToken(metadata));
  };
  const server = new Server();
  server.addService(ShellServiceService, shellHandlers(options, authenticate));
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      formatHostPort(options.listen),
      ServerCredentials.createInsecure(),
      (err, bound) =>
        err
          ? reject(
            new PactError(
              "CONFIG",
              `Cannot listen on ${formatHostPort(options.listen)}: ${err.message}`,
            ),
          )
          : resolve(bound),
    );
  });
  return {
    address: { host: options.listen.host, port },
    shutdown: (graceMs) =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}

type Authenticate = (metadata: Metadata) => Promise<Principal>;

function shellHandlers(
  options: ShellServerOptions,
  authenticate: Authenticate,
): UntypedServiceImplementation {
  const ops = options.services;
  const fail = (method: string, err: unknown) => toStatus(method, err, options.log);
  const unary = <Req, Res>(
    method: string,
    body: (request: Req, principal: Principal) => Promise<Res>,
  ): handleUnaryCall<Req, Res> =>
  (call, callback) => {
    authenticate(call.metadata)
      .then((principal) => body(call.request, principal))
      .then((response) => callback(null, response), (err) => callback(fail(method, err)));
  };
  const unimplemented = (method: string, what: string) => (call: unknown, callback?: unknown) => {
    const error = {
      code: status.UNIMPLEMENTED,
      details: `${method} is not implemented on this agent yet (${what})`,
      metadata: new Metadata(),
    };
    if (typeof callback === "function") callback(error);
    else (call as { emit(event: string, error: unknown): void }).emit("error", error);
  };
  const serviceLogs: handleServerStreamingCall<ServiceLogsRequest, ServiceLogChunk> = (call) => {
    const controller = new AbortController();
    call.on("cancelled", () => controller.abort());
    (async () => {
      const principal = await authenticate(call.metadata);
      for await (const lines of ops.logs(principal, call.request, controller.signal)) {
        if (controller.signal.aborted) break;
        if (!call.write({ lines })) await new Promise((resolve) => call.once("drain", resolve));
      }
    })().then(
      () => {
        if (!controller.signal.aborted) call.end();
      },
      (err) => {
        if (!controller.signal.aborted) call.emit("error", fail("ServiceLogs", err));
      },
    );
  };
  return {
    serviceStatus: unary<ServiceRequest, unknown>(
      "ServiceStatus",
      (request, principal) => ops.status(principal, request.name),
    ),
    serviceControl: unary<ServiceRequest, unknown>(
      "ServiceControl",
      (request, principal) => ops.control(principal, request.name, request.action),
    ),
    serviceLogs,
    exec: unimplemented("Exec", "use pact service for services; remote exec comes later"),
    shell: unimplemented("Shell", "interactive shell sessions come later"),
    listCommands: unimplemented("ListCommands", "no exec whitelist yet"),
    extendCommitWindow: unimplemented("ExtendCommitWindow", "not served by the shell yet"),
    collectDiag: unimplemented("CollectDiag", "use pact service logs for service output"),
  };
}

/** Maps a thrown value to a gRPC status once, at the boundary. */
function toStatus(method: string, err: unknown, log: (line: string) => void) {
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
