import type { HostPort } from "../../shared/config/listen_address.ts";
import { PactError } from "../../shared/errors/mod.ts";
import type { Journal } from "../core/journal.ts";
import type { JournalMetrics } from "../metrics.ts";

/** What the telemetry endpoint serves. */
export interface TelemetryDeps {
  readonly journal: Journal;
  readonly metrics: JournalMetrics;
  readonly prometheusEnabled: boolean;
  readonly discovery: { readonly idpUrl: string; readonly clientId: string };
  readonly nodeId: string;
  readonly version: string;
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
      return Response.json({
        idp_url: deps.discovery.idpUrl,
        client_id: deps.discovery.clientId,
        scopes: ["openid", "profile"],
      });
  }
  return new Response("Not found\n", { status: 404 });
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
