import type { HostPort } from "../../shared/config/listen_address.ts";
import { PactError } from "../../shared/errors/mod.ts";
import type { Journal } from "../core/journal.ts";
import type { JournalMetrics } from "../metrics.ts";

/** What the telemetry endpoint serves. */
export interface TelemetryDeps {
  readonly journal: Journal;
  readonly metrics: JournalMetrics;
  readonly prometheusEnabled: boolean;
  readonly discovery: DiscoverySettings;
  readonly nodeId: string;
  readonly version: string;
}

/** What `/auth/discovery` tells the CLI (PACT_IDP_URL, PACT_CLIENT_ID, PACT_OIDC_*). */
export interface DiscoverySettings {
  /** Where the IdP's `/.well-known/openid-configuration` lives; empty: the issuer. */
  readonly idpUrl: string;
  /** The CLI's OAuth client at the IdP. */
  readonly clientId: string;
  /** The `iss` the journal accepts. */
  readonly issuer?: string;
  /** The `aud` the journal accepts. */
  readonly audience?: string;
}

/** The running HTTP server. */
export interface TelemetryServer {
  readonly address: HostPort;
  shutdown(): Promise<void>;
}

/** Handles one telemetry request: `/health`, `/metrics`, `/auth/discovery` (all public). */
export async function handleTelemetry(request: Request, deps: TelemetryDeps): Promise<Response> {
  const { pathname } = new URL(request.url);
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("Method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
  }
  switch (pathname) {
    case "/health":
      return Response.json({
        status: "healthy",
        role: "standalone",
        store: deps.journal.storeKind,
        node_id: deps.nodeId,
        entries: deps.journal.state.nextSequence,
        next_sequence: deps.journal.state.nextSequence,
        version: deps.version,
      });
    case "/metrics":
      if (!deps.prometheusEnabled) break;
      return new Response(await deps.metrics.registry.metrics(), {
        headers: { "content-type": deps.metrics.registry.contentType },
      });
    case "/auth/discovery":
      return Response.json(discoveryDocument(deps.discovery));
  }
  return new Response("Not found\n", { status: 404 });
}

/**
 * The public login hints (PAuth3): where the IdP is, the CLI's client id,
 * and the issuer and audience tokens must carry to be accepted here.
 */
export function discoveryDocument(discovery: DiscoverySettings): Record<string, unknown> {
  return {
    idp_url: discovery.idpUrl || discovery.issuer || "",
    client_id: discovery.clientId,
    scopes: ["openid", "profile"],
    ...(discovery.issuer === undefined ? {} : { issuer: discovery.issuer }),
    ...(discovery.audience === undefined ? {} : { audience: discovery.audience }),
  };
}

/** Starts the telemetry HTTP server on `listen`. */
export function startTelemetryServer(listen: HostPort, deps: TelemetryDeps): TelemetryServer {
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve(
      { hostname: listen.host, port: listen.port, onListen: () => {} },
      (request) => handleTelemetry(request, deps),
    );
  } catch (err) {
    throw new PactError(
      "CONFIG",
      `Cannot listen on ${listen.host}:${listen.port}: ${(err as Error).message}`,
    );
  }
  return {
    address: { host: listen.host, port: server.addr.port },
    shutdown: () => server.shutdown(),
  };
}
