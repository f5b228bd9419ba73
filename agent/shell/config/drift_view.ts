/**
 * The GetDrift answer (`pact diff`): the node's declared state against what
 * the host has now, the drift the evaluator holds, the drift vector and its
 * magnitude, the commit window, emergency mode and the effective blacklist.
 * Each key shows the declared and the actual value where the agent can read
 * both (sysctl values, file hashes, mount type and source).
 */
import type {
  CommitWindowView,
  DriftItemView,
  EmergencyView,
  GetDriftResponse,
} from "../../../shared/proto/gen/pact/shell/shell.ts";
import type { DeclaredState } from "../../../shared/proto/gen/pact/config/config.ts";
import type { Host } from "../../host/host.ts";
import { declaredHash } from "../../drift/declared.ts";
import { type Dimension, dimensionOf, DIMENSIONS } from "../../drift/drift_vector.ts";
import {
  currentMagnitude,
  type EvaluatorState,
  type MergeConflict,
} from "../../drift/evaluator.ts";
import { conflictsOf } from "../../drift/merge.ts";
import type { NodeAgent } from "../../node_agent.ts";

/** Reads the agent's state and the host into a GetDrift answer at `nowMs`. */
export async function driftView(agent: NodeAgent, nowMs: number): Promise<GetDriftResponse> {
  const state = agent.state;
  const { nodeId, vcluster, declared, host } = agent.node;
  const values = new ValueReader(host, declared);
  const declaredDiff: DriftItemView[] = [];
  for (const event of await agent.declaredDiff()) {
    const dimension = dimensionOf(event.category);
    declaredDiff.push({
      dimension,
      key: event.key,
      ...await values.of(dimension, event.key),
      detail: event.detail,
      source: event.source,
      firstSeenMs: event.atMs,
      lastSeenMs: event.atMs,
    });
  }
  const drift: DriftItemView[] = [];
  const conflicts = conflictsOf(state);
  for (const [id, item] of state.drift.entries()) {
    const conflict = conflicts.get(id);
    drift.push({
      dimension: item.dimension,
      key: item.key,
      ...await values.of(item.dimension, item.key),
      // A merge conflict (§2.19): the journal's value is what is declared now.
      ...(conflict === undefined ? {} : { declared: conflict.journalValue }),
      detail: conflict === undefined ? item.detail : conflictDetail(conflict),
      source: item.source,
      firstSeenMs: item.firstSeenMs,
      lastSeenMs: item.lastSeenMs,
    });
  }
  return {
    nodeId,
    vcluster: vcluster ?? "",
    enforcementMode: state.settings.mode,
    declaredDiff,
    drift,
    vector: DIMENSIONS.map((dimension) => ({
      dimension,
      value: state.vector[dimension],
      weight: state.settings.weights[dimension],
    })),
    magnitude: currentMagnitude(state),
    window: windowView(state, nowMs),
    emergency: emergencyView(state),
    blacklist: state.settings.blacklist.patterns,
    nowMs,
  };
}

/**
 * How `pact diff` shows a merge conflict: the detail starts with `merge
 * conflict:` and names both values and the grace period's end
 * (cli/ops/diff.ts parses it back for `--json`).
 */
export function conflictDetail(conflict: MergeConflict): string {
  return `merge conflict: local ${JSON.stringify(conflict.localValue)}, journal ${
    JSON.stringify(conflict.journalValue)
  } (seq:${conflict.journalSequence}), detected_at ${
    new Date(conflict.detectedAtMs).toISOString()
  }, grace_period_expires ${new Date(conflict.expiresAtMs).toISOString()}`;
}

/** The commit window as the shell reports it. */
export function windowView(state: EvaluatorState, nowMs: number): CommitWindowView {
  const window = state.window;
  switch (window.kind) {
    case "idle":
      return {
        state: "idle",
        openedAtMs: 0,
        deadlineMs: 0,
        secondsLeft: 0,
        expiredAtMs: 0,
        blockedBy: [],
      };
    case "open":
      return {
        state: "open",
        openedAtMs: window.openedAtMs,
        deadlineMs: window.deadlineMs,
        secondsLeft: Math.max(0, Math.round((window.deadlineMs - nowMs) / 1000)),
        expiredAtMs: 0,
        blockedBy: [],
      };
    case "expired":
      return {
        state: "expired",
        openedAtMs: window.openedAtMs,
        deadlineMs: 0,
        secondsLeft: 0,
        expiredAtMs: window.expiredAtMs,
        blockedBy: [...window.blockedBy],
      };
  }
}

/** Emergency mode as the shell reports it. */
export function emergencyView(state: EvaluatorState): EmergencyView {
  const session = state.emergency;
  if (session === undefined) {
    return {
      active: false,
      admin: "",
      reason: "",
      startedAtMs: 0,
      expiresAtMs: 0,
      stale: false,
    };
  }
  return {
    active: true,
    admin: session.admin,
    reason: session.reason,
    startedAtMs: session.startedAtMs,
    expiresAtMs: session.expiresAtMs,
    stale: session.stale,
  };
}

/** Declared and actual values of keys, reading the host's mounts once. */
class ValueReader {
  readonly #host: Host;
  readonly #declared: DeclaredState | undefined;
  #mounts: Map<string, string> | undefined;

  constructor(host: Host, declared: DeclaredState | undefined) {
    this.#host = host;
    this.#declared = declared;
  }

  async of(dimension: Dimension, key: string): Promise<{ declared: string; actual: string }> {
    const declared = this.#declared;
    switch (dimension) {
      case "kernel": {
        if (key.startsWith("module:")) return { declared: "loaded", actual: "" };
        return {
          declared: declared?.sysctl[key] ?? "",
          actual: (await this.#host.sysctl.get(key).catch(() => undefined)) ?? "(absent)",
        };
      }
      case "files": {
        const file = declared?.files.find((f) => f.path === key);
        const want = file === undefined ? undefined : declaredHash(file);
        const have = await this.#host.files.hash(key).catch(() => undefined);
        return {
          declared: want === undefined ? "" : `sha256:${want.slice(0, 12)}`,
          actual: have === undefined ? "(missing)" : `sha256:${have.slice(0, 12)}`,
        };
      }
      case "mounts": {
        const mount = declared?.mounts.find((m) => m.path === key);
        this.#mounts ??= new Map(
          (await this.#host.mounts.list().catch(() => [])).map((
            m,
          ) => [m.mountPoint, `${m.fsType}:${m.source}`]),
        );
        return {
          declared: mount?.spec === undefined ? "" : `${mount.spec.fsType}:${mount.spec.source}`,
          actual: this.#mounts.get(key) ?? "(not mounted)",
        };
      }
      default:
        return { declared: "", actual: "" };
    }
  }
}
