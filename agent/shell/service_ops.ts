/**
 * The service RPCs of the shell server as plain functions over the booted
 * node's ServiceManager (reference §2.13): status, start/stop/restart and
 * logs (tail, follow). Each call is authorized here against the node's
 * current vCluster policy (authorize.ts: start/stop/restart need ops or
 * platform admin, or a role the policy binds to `service_<action>`;
 * status and logs also viewers); each control action is journaled as a SERVICE_LIFECYCLE entry naming who asked for it.
 */
import type { Principal } from "../../shared/auth/principal.ts";
import { PactError } from "../../shared/errors/mod.ts";
import { EntryType } from "../../shared/proto/gen/pact/config/config.ts";
import type {
  ServiceControlResponse,
  ServiceInfo,
  ServiceStatusResponse,
} from "../../shared/proto/gen/pact/shell/shell.ts";
import { agentEntry } from "../drift/drift_entries.ts";
import type { EntrySink } from "../node_agent.ts";
import type { EvaluatorState } from "../drift/evaluator_types.ts";
import type { RotatingLog } from "../supervisor/rotating_log.ts";
import type { ServiceManager, ServiceStatus } from "../supervisor/service_manager.ts";
import { type NodeScope, requireAccess } from "./authorize.ts";

/** Lines `logs` returns when the request asks for 0. */
export const DEFAULT_LOG_LINES = 50;
/** Most lines one `logs` call returns before following. */
export const LOG_LINES_MAX = 10_000;
/** Most lines per streamed chunk. */
const CHUNK_LINES_MAX = 500;

/** The control actions of ServiceControl. */
export type ControlAction = "start" | "stop" | "restart";

/** What the operations run over. */
export interface ServiceOpsDeps {
  /** The node; its `policy` (role bindings) is read on every call. */
  readonly node: NodeScope;
  readonly services: ServiceManager;
  /** The captured output of a service; undefined when the backend keeps none (systemd). */
  readonly logsOf: ((name: string) => RotatingLog) | undefined;
  /** Where control actions are journaled; undefined: they are only logged. */
  readonly journal: EntrySink | undefined;
  /**
   * The drift loop's state (commit window, emergency); undefined when the
   * loop does not run, and then no window rule applies.
   */
  readonly drift?: (() => Pick<EvaluatorState, "window" | "emergency">) | undefined;
  readonly log: (line: string) => void;
}

/** Status, control and logs of the node's services for an authenticated caller. */
export class ServiceOps {
  readonly #deps: ServiceOpsDeps;

  constructor(deps: ServiceOpsDeps) {
    this.#deps = deps;
  }

  /** Every service, or only `name` when it is not empty. */
  async status(principal: Principal, name: string): Promise<ServiceStatusResponse> {
    requireAccess(principal, this.#deps.node, "read", "Service status", "status");
    const all = await this.#deps.services.status();
    const services = name === "" ? all : [await this.#find(name, all)];
    return { services: services.map(toInfo), backend: this.#deps.services.backend };
  }

  /** Starts, stops or restarts one service and journals who did it. */
  async control(
    principal: Principal,
    name: string,
    action: string,
  ): Promise<ServiceControlResponse> {
    const checked = parseAction(action);
    requireAccess(
      principal,
      this.#deps.node,
      "control",
      `${checked} ${name}`,
      `service_${checked}`,
    );
    await this.#find(name);
    this.#requireWindowRules(checked, name);
    const { services } = this.#deps;
    if (checked === "start") await services.start(name);
    else if (checked === "stop") await services.stop(name);
    else await services.restart(name);
    const after = await this.#find(name);
    const journalSequence = await this.#journal(principal, checked, after);
    return { service: toInfo(after), journalSequence };
  }

  /**
   * The last `lines` lines (0: DEFAULT_LOG_LINES), then, with `follow`,
   * new lines as they are written until `signal` aborts.
   */
  async *logs(
    principal: Principal,
    request: { readonly name: string; readonly lines: number; readonly follow: boolean },
    signal: AbortSignal,
  ): AsyncGenerator<string[]> {
    requireAccess(principal, this.#deps.node, "read", `Logs of ${request.name}`, "log");
    await this.#find(request.name);
    if (!this.#deps.logsOf) {
      throw new PactError(
        "VALIDATION",
        `Service logs are kept by systemd in ${this.#deps.services.backend} mode: use journalctl -u pact-${request.name} on the node`,
      );
    }
    if (request.lines > LOG_LINES_MAX) {
      throw new PactError(
        "INVALID_ARGUMENT",
        `Cannot return ${request.lines} lines: at most ${LOG_LINES_MAX}`,
      );
    }
    const log = this.#deps.logsOf(request.name);
    const lines = await log.tail(request.lines === 0 ? DEFAULT_LOG_LINES : request.lines);
    for (let at = 0; at < lines.length; at += CHUNK_LINES_MAX) {
      yield lines.slice(at, at + CHUNK_LINES_MAX);
    }
    if (!request.follow) return;
    const decoder = new TextDecoder();
    let partial = "";
    for await (const chunk of log.follow(signal)) {
      const text = partial + decoder.decode(chunk, { stream: true });
      const parts = text.split("\n");
      partial = parts.pop() ?? "";
      if (parts.length > 0) yield parts;
    }
  }

  /**
   * Service actions are subject to the commit window (reference §2.5): once
   * a window expired and its rollback did not happen (blocked by consumers,
   * or a category that needs acknowledgement), the node's drift must be
   * resolved first. An active emergency suspends the rule.
   */
  #requireWindowRules(action: ControlAction, name: string): void {
    const state = this.#deps.drift?.();
    if (!state || state.emergency !== undefined || state.window.kind !== "expired") return;
    const blocked = state.window.blockedBy.length > 0
      ? ` (rollback blocked by ${state.window.blockedBy.join(", ")})`
      : "";
    throw new PactError(
      "VALIDATION",
      `Cannot ${action} ${name} on node ${this.#deps.node.nodeId}: its commit window expired at ${
        new Date(state.window.expiredAtMs).toISOString()
      } with the drift unresolved${blocked}: run pact extend or pact commit first`,
    );
  }

  async #find(name: string, all?: readonly ServiceStatus[]): Promise<ServiceStatus> {
    if (name === "" || name.includes("/") || name.includes("..")) {
      throw new PactError("INVALID_ARGUMENT", `Invalid service name: ${JSON.stringify(name)}`);
    }
    const found = (all ?? await this.#deps.services.status()).find((s) => s.name === name);
    if (!found) {
      throw new PactError(
        "NOT_FOUND",
        `Service ${name} is not declared on node ${this.#deps.node.nodeId}`,
      );
    }
    return found;
  }

  async #journal(
    principal: Principal,
    action: ControlAction,
    after: ServiceStatus,
  ): Promise<number> {
    const detail = `${action} by ${principal.principal} (pact service ${action})`;
    this.#deps.log(`shell: service ${after.name}: ${detail}, now ${after.state}`);
    if (!this.#deps.journal) {
      this.#deps.log(`shell: no journal configured: ${action} of ${after.name} not journaled`);
      return 0;
    }
    const entry = {
      ...agentEntry({
        nodeId: this.#deps.node.nodeId,
        type: EntryType.SERVICE_LIFECYCLE,
        message: `${action} ${after.name} by ${principal.principal}`,
        metadata: { service: after.name, action, principal: principal.principal },
      }),
      payload: {
        $case: "service" as const,
        value: {
          service: after.name,
          action,
          exitCode: after.lastExitCode,
          restartCount: after.restartCount,
          detail,
        },
      },
    };
    return await this.#deps.journal.append(entry);
  }
}

function parseAction(action: string): ControlAction {
  if (action === "start" || action === "stop" || action === "restart") return action;
  throw new PactError(
    "INVALID_ARGUMENT",
    `Invalid service action ${JSON.stringify(action)}: use start, stop or restart`,
  );
}

/** The wire form of a service status. */
export function toInfo(status: ServiceStatus): ServiceInfo {
  return {
    name: status.name,
    state: status.state,
    pid: status.pid ?? 0,
    // The supervisor does not record start times yet.
    uptimeSeconds: 0,
    restartCount: status.restartCount,
    lastExitCode: status.lastExitCode,
    health: status.healthy === undefined ? "" : status.healthy ? "healthy" : "unhealthy",
  };
}
