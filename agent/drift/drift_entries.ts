/**
 * Journal entries the agent writes about its own node: DriftDetected,
 * AutoConverge, Rollback, Commit and emergency start/end, each node-scoped
 * with the drifted keys as a StateDelta in the seven dimensions.
 */
import {
  type ConfigEntry,
  DeltaAction,
  EntryType,
  StateDelta,
} from "../../shared/proto/gen/pact/config/config.ts";
import { toProtoScope } from "../../shared/domain/scope.ts";
import type { DriftItem, MergeConflict } from "./evaluator_types.ts";

/** The StateDelta describing drifted keys, one delta per key in its dimension. */
export function stateDeltaOf(items: readonly DriftItem[]): StateDelta {
  const delta = StateDelta.create();
  for (const item of items) {
    const action = actionOf(item.detail);
    switch (item.dimension) {
      case "files":
        delta.files.push({
          path: item.key,
          action,
          contentHash: /-> ([0-9a-f]+)\)$/.exec(item.detail)?.[1] ?? "",
          mode: "",
          owner: "",
          previousHash: "",
        });
        break;
      case "mounts":
        delta.mounts.push({ path: item.key, action, declared: undefined, actual: undefined });
        break;
      case "network":
        delta.network.push({ interface: item.key, action, detail: item.detail, previous: "" });
        break;
      case "services":
        delta.services.push({
          name: item.key,
          action,
          declaredState: "",
          actualState: item.detail,
        });
        break;
      case "kernel":
        delta.kernel.push({ key: item.key, action, declaredValue: "", actualValue: item.detail });
        break;
      case "packages":
        delta.packages.push({ name: item.key, action, version: item.detail, previousVersion: "" });
        break;
      case "gpu":
        delta.gpu.push({ gpuIndex: Number(item.key) || 0, action, detail: item.detail });
        break;
    }
  }
  return delta;
}

/** Options of a node-scoped agent entry. */
export interface AgentEntryOptions {
  readonly nodeId: string;
  readonly type: EntryType;
  readonly message: string;
  readonly items?: readonly DriftItem[];
  readonly metadata?: Readonly<Record<string, string>>;
  readonly ttlSeconds?: number;
  readonly emergencyReason?: string;
}

/** A node-scoped entry the agent appends; the journal stamps sequence, time and author. */
export function agentEntry(options: AgentEntryOptions): ConfigEntry {
  return {
    sequence: 0,
    timestamp: undefined,
    entryType: options.type,
    scope: toProtoScope({ kind: "node", id: options.nodeId }),
    author: undefined,
    policyRef: "",
    emergencyReason: options.emergencyReason ?? "",
    message: options.message,
    requestId: crypto.randomUUID(),
    metadata: { ...options.metadata },
    payload: options.items === undefined
      ? undefined
      : { $case: "stateDelta", value: stateDeltaOf(options.items) },
    ...(options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds }),
  };
}

function actionOf(detail: string): DeltaAction {
  if (/^(created|added)/.test(detail)) return DeltaAction.ADD;
  if (/^(deleted|removed)/.test(detail)) return DeltaAction.REMOVE;
  return DeltaAction.MODIFY;
}

export { EntryType };

/**
 * A merge-conflict record (reference §2.19; the spec's
 * MergeConflictDetected / MergeConflictResolved / GracePeriodOverwrite):
 * a node-scoped CONFLICT entry whose ConflictRecord names each key with
 * its local and journal values; the message and metadata say when it was
 * detected and when its grace period ends.
 */
export function conflictEntry(options: {
  readonly nodeId: string;
  readonly kind: "merge_detected" | "merge_resolved" | "grace_overwrite";
  readonly resolution: string;
  readonly conflicts: readonly MergeConflict[];
}): ConfigEntry {
  const { nodeId, kind, resolution, conflicts } = options;
  const what = kind === "merge_detected"
    ? "merge conflict"
    : kind === "grace_overwrite"
    ? "grace period expired, journal wins, local value overwritten"
    : `merge conflict resolved (${resolution})`;
  const iso = (ms: number) => new Date(ms).toISOString();
  const lines = conflicts.map((c) =>
    `${c.dimension} ${c.key}: local ${JSON.stringify(c.localValue)}, journal ${
      JSON.stringify(c.journalValue)
    } (seq:${c.journalSequence}), detected_at ${iso(c.detectedAtMs)}, grace_period_expires ${
      iso(c.expiresAtMs)
    }`
  );
  const first = conflicts[0];
  return {
    ...agentEntry({
      nodeId,
      type: EntryType.CONFLICT,
      message: `${what}: ${lines.join("; ")}`,
      metadata: {
        kind,
        ...(resolution === "" ? {} : { resolution }),
        ...(first === undefined ? {} : {
          detected_at: iso(first.detectedAtMs),
          grace_period_expires: iso(first.expiresAtMs),
        }),
      },
    }),
    payload: {
      $case: "conflict",
      value: {
        kind,
        resolution,
        items: conflicts.map((c) => ({
          key: `${c.dimension}:${c.key}`,
          localValue: c.localValue,
          journalValue: c.journalValue,
          nodeId,
        })),
      },
    },
  };
}
