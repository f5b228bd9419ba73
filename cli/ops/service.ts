/**
 * `pact service` operations over an agent's ShellService: status,
 * start/stop/restart and logs of the services one node supervises. Shared
 * by the CLI and (later) the MCP server; the agent address is resolved
 * here too.
 */
import { PactError } from "../../shared/errors/mod.ts";
import type {
  ServiceControlResponse,
  ServiceInfo,
  ServiceStatusResponse,
} from "../../shared/proto/gen/pact/shell/shell.ts";

/** What the operations need from an agent (AgentClient, or a fake in tests). */
export interface AgentApi {
  serviceStatus(name: string): Promise<ServiceStatusResponse>;
  serviceControl(name: string, action: string): Promise<ServiceControlResponse>;
  serviceLogs(
    request: { readonly name: string; readonly lines: number; readonly follow: boolean },
    signal: AbortSignal,
  ): AsyncIterable<string[]>;
}

/** One service as `pact service` prints it (and as `--json` emits it). */
export interface ServiceView {
  readonly name: string;
  readonly state: string;
  readonly pid: number | null;
  readonly restart_count: number;
  readonly last_exit_code: number | null;
  readonly health: string | null;
}

/** The services of one node. */
export interface ServiceStatusView {
  readonly node: string;
  readonly backend: string;
  readonly services: readonly ServiceView[];
}

/** The outcome of start, stop or restart. */
export interface ServiceControlView {
  readonly node: string;
  readonly action: string;
  readonly service: ServiceView;
  /** The SERVICE_LIFECYCLE entry's sequence; null when the agent only queued or logged it. */
  readonly journal_sequence: number | null;
}

/**
 * The agent to call: `--agent`, else PACT_AGENT_ENDPOINT, else the node's
 * own name on port 9445 (`http://<node-id>:9445`).
 */
export function agentEndpoint(
  node: string | undefined,
  flag: string | undefined,
  env: string | undefined,
): { readonly endpoint: string; readonly node: string } {
  const explicit = flag || env;
  if (node === undefined && !explicit) {
    throw new PactError(
      "INVALID_ARGUMENT",
      "No node given: pass --node <node> (or --agent <host:port>)",
    );
  }
  if (node !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(node)) {
    throw new PactError("INVALID_ARGUMENT", `Invalid node name: ${JSON.stringify(node)}`);
  }
  const endpoint = explicit
    ? (/^[a-z]+:\/\//i.test(explicit) ? explicit : `http://${explicit}`)
    : `http://${node}:9445`;
  return { endpoint, node: node ?? endpoint.replace(/^[a-z]+:\/\//i, "") };
}

/** Status of every service of the node, or of one. */
export async function serviceStatus(
  api: AgentApi,
  node: string,
  name: string | undefined,
): Promise<ServiceStatusView> {
  const response = await api.serviceStatus(name ?? "");
  return { node, backend: response.backend, services: response.services.map(toView) };
}

/** Starts, stops or restarts one service. */
export async function serviceControl(
  api: AgentApi,
  node: string,
  name: string,
  action: "start" | "stop" | "restart",
): Promise<ServiceControlView> {
  const response = await api.serviceControl(name, action);
  if (!response.service) {
    throw new PactError("INTERNAL", `The agent on ${node} answered ${action} without a status`);
  }
  return {
    node,
    action,
    service: toView(response.service),
    journal_sequence: response.journalSequence === 0 ? null : response.journalSequence,
  };
}

function toView(info: ServiceInfo): ServiceView {
  return {
    name: info.name,
    state: info.state,
    pid: info.pid === 0 ? null : info.pid,
    restart_count: info.restartCount,
    last_exit_code: info.lastExitCode ?? null,
    health: info.health === "" ? null : info.health,
  };
}
