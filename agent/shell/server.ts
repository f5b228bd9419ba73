/**
 * The agent's ShellService on `[agent.shell] listen` (port 9445): every
 * call carries a bearer token that the agent validates itself against
 * `[agent.shell.auth]` (issuer, audience, JWKS or the dev HS256 secret).
 * Without that section every call is refused (fail closed). With `tls`
 * credentials (agent/shell/shell_tls.ts) it serves gRPC over TLS, else
 * plaintext HTTP/2. The RPCs
 * themselves come from feature modules (services, exec, shell, diag...),
 * each built on the shared RpcKit; a method no module serves answers
 * UNIMPLEMENTED.
 */
import { Metadata, Server, ServerCredentials } from "@grpc/grpc-js";
import type { Principal } from "../../shared/auth/principal.ts";
import { TokenVerifier } from "../../shared/auth/token_verifier.ts";
import { formatHostPort, type HostPort } from "../../shared/config/listen_address.ts";
import { PactError } from "../../shared/errors/mod.ts";
import { ShellServiceService } from "../../shared/proto/gen/pact/shell/shell.ts";
import { bearerToken } from "../../journal/service/authn.ts";
import type { ShellAuthSettings } from "../config.ts";
import { type Handlers, type RpcKit, rpcKit, unimplemented } from "./rpc_kit.ts";

/** A running shell server. */
export interface ShellServer {
  /** Where it listens (the real port when 0 was asked for). */
  readonly address: HostPort;
  /** True when it serves TLS. */
  readonly tls: boolean;
  /** Stops accepting calls; open calls get `graceMs` before they are cut. */
  shutdown(graceMs: number): Promise<void>;
}

/** What the server needs. */
export interface ShellServerOptions {
  readonly listen: HostPort;
  /** Undefined: no `[agent.shell.auth]`, every call is refused. */
  readonly auth: ShellAuthSettings | undefined;
  /**
   * The feature modules' handlers (services, exec, shell, diag...), each
   * built from the shared kit; methods none of them serves answer
   * UNIMPLEMENTED.
   */
  readonly modules: readonly ((kit: RpcKit) => Handlers)[];
  /** TLS server credentials; undefined: plaintext. */
  readonly tls?: ServerCredentials | undefined;
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
  const kit = rpcKit(authenticate, options.log);
  const handlers: Handlers = { ...NOT_YET };
  for (const module of options.modules) Object.assign(handlers, module(kit));
  server.addService(ShellServiceService, handlers);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      formatHostPort(options.listen),
      options.tls ?? ServerCredentials.createInsecure(),
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
    tls: options.tls !== undefined,
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

/** What answers until a module serves it. */
const NOT_YET: Handlers = {
  exec: unimplemented("Exec", "remote exec is not enabled on this agent"),
  shell: unimplemented("Shell", "interactive shell sessions are not enabled on this agent"),
  listCommands: unimplemented("ListCommands", "no exec whitelist on this agent"),
  extendCommitWindow: unimplemented("ExtendCommitWindow", "no commit windows on this agent"),
  collectDiag: unimplemented("CollectDiag", "diagnostics are not enabled on this agent"),
  serviceStatus: unimplemented("ServiceStatus", "no services on this agent"),
  serviceControl: unimplemented("ServiceControl", "no services on this agent"),
  serviceLogs: unimplemented("ServiceLogs", "no services on this agent"),
};
