/**
 * Assembles the capability report from a detection and the node's state at
 * that moment: its services (supervisor counts), its drift, commit window
 * and emergency from the drift loop when it runs, and the config state
 * derived from them (`emergency` > `drifted` > `committed`).
 */
import type { EvaluatorState } from "../drift/evaluator_types.ts";
import { magnitude } from "../drift/drift_vector.ts";
import type { ServiceStatus } from "../supervisor/service_manager.ts";
import {
  CAPABILITY_SCHEMA_VERSION,
  type CapabilityReport,
  type Detection,
  type DriftSummary,
  type EmergencyInfo,
  type ServiceStatusView,
  type SupervisorStatus,
} from "./report_types.ts";

/** The node's state that goes into a report besides the hardware. */
export interface NodeState {
  readonly services: readonly ServiceStatusView[];
  readonly supervisor: SupervisorStatus;
  readonly drift: DriftSummary | null;
  readonly emergency: EmergencyInfo | null;
}

/** Who the node is. */
export interface NodeIdentity {
  readonly nodeId: string;
  readonly vcluster: string | undefined;
  readonly configVersion: number;
}

/** The node state from its services and (when the drift loop runs) the evaluator's state. */
export function nodeStateOf(
  backend: string,
  services: readonly ServiceStatus[],
  evaluator: EvaluatorState | undefined,
): NodeState {
  const views = services.map((s) => ({
    name: s.name,
    state: s.state,
    pid: s.pid ?? null,
    uptime_seconds: null,
    restart_count: s.restartCount,
  }));
  return {
    services: views,
    supervisor: {
      backend,
      declared: services.length,
      running: services.filter((s) => s.state === "running").length,
      failed: services.filter((s) => s.state === "failed").length,
    },
    drift: evaluator ? driftSummaryOf(evaluator) : null,
    emergency: evaluator?.emergency ? emergencyOf(evaluator.emergency) : null,
  };
}

function driftSummaryOf(state: EvaluatorState): DriftSummary {
  return {
    magnitude: Math.round(magnitude(state.vector, state.settings.weights) * 1000) / 1000,
    drifted_keys: state.drift.size,
    vector: Object.fromEntries(Object.entries(state.vector).filter(([, v]) => v > 0)),
    window: state.window.kind,
  };
}

function emergencyOf(e: NonNullable<EvaluatorState["emergency"]>): EmergencyInfo {
  return {
    reason: e.reason,
    admin: e.admin,
    started_at: new Date(e.startedAtMs).toISOString(),
    expires_at: new Date(e.expiresAtMs).toISOString(),
    stale: e.stale,
  };
}

/** The whole report. */
export function assembleReport(
  node: NodeIdentity,
  detection: Detection,
  state: NodeState,
  reportId: string,
  nowMs: number,
): CapabilityReport {
  return {
    node_id: node.nodeId,
    vcluster: node.vcluster ?? null,
    timestamp: new Date(nowMs).toISOString(),
    report_id: reportId,
    schema_version: CAPABILITY_SCHEMA_VERSION,
    cpu: detection.cpu,
    gpus: detection.gpus,
    memory: detection.memory,
    network: detection.network,
    storage: detection.storage,
    software: {
      loaded_modules: detection.loaded_modules,
      uenv_image: null,
      services: state.services,
    },
    config_state: state.emergency
      ? "emergency"
      : state.drift && state.drift.drifted_keys > 0
      ? "drifted"
      : "committed",
    config_version: node.configVersion,
    drift_summary: state.drift,
    emergency: state.emergency,
    supervisor_status: state.supervisor,
  };
}

/** The node-state part of a report, to tell whether it must be refreshed. */
export function stateKey(state: NodeState): string {
  return JSON.stringify([
    state.supervisor,
    state.services.map((s) => [s.name, s.state, s.pid, s.restart_count]),
    state.drift,
    state.emergency,
  ]);
}
