import assert from "node:assert/strict";
import {
  type BootRecord,
  type ConfigEntry,
  ConfigState,
  EntryType,
} from "../../shared/proto/gen/pact/config/config.ts";
import { fromProtoScope } from "../../shared/domain/scope.ts";
import { applyApproval, isApprovalBookkeeping } from "./approvals.ts";
import { withBootEntry } from "./boot_entries.ts";
import { applyEnrollmentEntry } from "./enrollments.ts";
import { EMERGENCY_WINDOW_SECONDS_DEFAULT } from "./limits.ts";
import {
  type JournalState,
  newNode,
  newVCluster,
  type NodeRecord,
  REQUEST_IDS_MAX,
  type VClusterRecord,
} from "./state.ts";

/**
 * Folds one validated, sequenced entry into the state and returns the new
 * state. Pure and deterministic: no I/O, no clock, no randomness; the entry
 * carries its own timestamp. Earlier states are left untouched.
 */
export function applyEntry(state: JournalState, entry: ConfigEntry): JournalState {
  assert.equal(entry.sequence, state.nextSequence, "entries must be applied in sequence");
  const timestampMs = entry.timestamp?.getTime() ?? state.lastTimestampMs;
  let next: JournalState = {
    ...state,
    nextSequence: state.nextSequence + 1,
    lastTimestampMs: Math.max(state.lastTimestampMs, timestampMs),
    entryCounts: state.entryCounts.update(entry.entryType, 0, (n) => n + 1),
    requestIds: rememberRequestId(state, entry),
    approvals: applyApproval(state.approvals, entry, timestampMs),
    enrollment: applyEnrollmentEntry(state.enrollment, entry, timestampMs),
  };
  // Approval books change no configuration, so they move no scope version:
  // the deferred operation still applies against the version it was
  // computed for.
  if (isApprovalBookkeeping(entry.entryType)) return next;
  // A refused enrollment is an audit record: it changes no node.
  if (entry.entryType === EntryType.ENROLLMENT_REFUSED) return next;
  const scope = fromProtoScope(entry.scope);
  if (scope?.kind === "node") {
    next = updateNode(next, scope.id, (node) => applyToNode(node, entry, timestampMs, next));
  } else if (scope?.kind === "vcluster") {
    next = updateVCluster(next, scope.id, (vc) => applyToVCluster(vc, entry));
  } else {
    next = { ...next, globalVersion: entry.sequence };
  }
  return next;
}

function rememberRequestId(state: JournalState, entry: ConfigEntry): JournalState["requestIds"] {
  if (entry.requestId === "") return state.requestIds;
  let ids = state.requestIds.set(entry.requestId, entry.sequence);
  while (ids.size > REQUEST_IDS_MAX) ids = ids.delete(ids.keySeq().first()!);
  return ids;
}

function updateNode(
  state: JournalState,
  nodeId: string,
  change: (node: NodeRecord) => NodeRecord,
): JournalState {
  const node = state.nodes.get(nodeId) ?? newNode(nodeId);
  return { ...state, nodes: state.nodes.set(nodeId, change(node)) };
}

function updateVCluster(
  state: JournalState,
  vclusterId: string,
  change: (vc: VClusterRecord) => VClusterRecord,
): JournalState {
  const vc = state.vclusters.get(vclusterId) ?? newVCluster(vclusterId);
  return { ...state, vclusters: state.vclusters.set(vclusterId, change(vc)) };
}

function applyToNode(
  node: NodeRecord,
  entry: ConfigEntry,
  timestampMs: number,
  state: JournalState,
): NodeRecord {
  const base: NodeRecord = {
    ...node,
    version: entry.sequence,
    updatedAtMs: timestampMs,
    bootEntries: withBootEntry(node.bootEntries, entry),
  };
  const payload = entry.payload;
  switch (entry.entryType) {
    case EntryType.COMMIT:
      return {
        ...base,
        configState: node.emergency ? ConfigState.EMERGENCY : ConfigState.COMMITTED,
        lastCommitSequence: entry.sequence,
        committedDeltas: node.committedDeltas + (payload?.$case === "stateDelta" ? 1 : 0),
      };
    case EntryType.ROLLBACK:
    case EntryType.AUTO_CONVERGE:
      return {
        ...base,
        configState: node.emergency ? ConfigState.EMERGENCY : ConfigState.COMMITTED,
      };
    case EntryType.DRIFT_DETECTED:
      return {
        ...base,
        configState: node.emergency ? ConfigState.EMERGENCY : ConfigState.DRIFTED,
        driftEvents: node.driftEvents + 1,
      };
    case EntryType.EMERGENCY_START:
      return {
        ...base,
        configState: ConfigState.EMERGENCY,
        emergency: {
          reason: entry.emergencyReason,
          admin: entry.author!,
          startedAtMs: timestampMs,
          expiresAtMs: timestampMs + emergencyWindowSeconds(entry, node, state) * 1000,
          startSequence: entry.sequence,
        },
      };
    case EntryType.EMERGENCY_END:
      return { ...base, configState: ConfigState.COMMITTED, emergency: undefined };
    case EntryType.BOOT_CONFIG:
      return payload?.$case === "boot"
        ? { ...base, lastBoot: withShellAddress(payload.value, node.lastBoot) }
        : base;
    case EntryType.NODE_ASSIGNED:
    case EntryType.NODE_MOVED:
      return payload?.$case === "enrollment"
        ? { ...base, vclusterId: payload.value.vclusterId }
        : base;
    case EntryType.NODE_REGISTERED:
      return payload?.$case === "enrollment"
        ? { ...base, vclusterId: payload.value.vclusterId }
        : base;
    case EntryType.NODE_UNASSIGNED:
    case EntryType.NODE_DECOMMISSIONED:
      return { ...base, vclusterId: "" };
    default:
      return base;
  }
}

/** The window an emergency lasts: the entry's TTL, else the vCluster policy's, else 4 h. */
function emergencyWindowSeconds(entry: ConfigEntry, node: NodeRecord, state: JournalState): number {
  if (entry.ttlSeconds) return entry.ttlSeconds;
  const policy = state.vclusters.get(node.vclusterId)?.policy;
  return policy?.emergencyWindowSeconds ?? EMERGENCY_WINDOW_SECONDS_DEFAULT;
}

function applyToVCluster(vc: VClusterRecord, entry: ConfigEntry): VClusterRecord {
  const base: VClusterRecord = { ...vc, version: entry.sequence };
  const payload = entry.payload;
  if (entry.entryType === EntryType.POLICY_UPDATE && payload?.$case === "policy") {
    return {
      ...base,
      policy: {
        ...payload.value,
        vclusterId: vc.vclusterId,
        policyId: payload.value.policyId || `seq-${entry.sequence}`,
        updatedAt: entry.timestamp,
      },
    };
  }
  if (entry.entryType === EntryType.OVERLAY_UPDATE && payload?.$case === "overlay") {
    return { ...base, overlay: { ...payload.value, vclusterId: vc.vclusterId } };
  }
  return base;
}

/**
 * A boot record without a shell address keeps the one the node reported
 * before: the agent journals its boot record and, once its shell server is
 * bound, the same record with the address; the first may reach the journal
 * last when it was retried.
 */
export function withShellAddress(record: BootRecord, previous: BootRecord | undefined): BootRecord {
  if (record.shellAddress !== "" || !previous?.shellAddress) return record;
  return { ...record, shellAddress: previous.shellAddress };
}
