/**
 * What a config subscription delivers: which entries each subscriber sees
 * and how each is classified (overlay, node delta, policy, blacklist, ...).
 */
import { formatScope, fromProtoScope, type ScopeRef } from "../../shared/domain/scope.ts";
import {
  type ConfigEntry,
  EntryType,
  UpdateKind,
} from "../../shared/proto/gen/pact/config/config.ts";
import type { ConfigUpdate } from "../../shared/proto/gen/pact/stream/stream.ts";
import type { JournalState } from "../state/state.ts";

/** Who is subscribing, as parsed from a SubscribeRequest. */
export interface Subscriber {
  /** A node: its own entries, its vCluster's and global ones, minus audit records. */
  readonly nodeId: string;
  /** An admin watch of one scope (a vCluster watch includes its nodes); undefined: everything. */
  readonly scope: ScopeRef | undefined;
}

/**
 * The filter for `subscriber`. It reads the node-to-vCluster assignment
 * from `state()` when each entry passes, so a moved node follows its new
 * vCluster.
 */
export function subscriptionFilter(
  subscriber: Subscriber,
  state: () => JournalState,
): (entry: ConfigEntry) => boolean {
  const { nodeId, scope } = subscriber;
  if (nodeId !== "") {
    return (entry) => {
      if (updateKindOf(entry) === UpdateKind.AUDIT) return false;
      const s = fromProtoScope(entry.scope);
      if (s?.kind === "node") return s.id === nodeId;
      if (s?.kind === "vcluster") return s.id === vclusterOf(state(), nodeId);
      return true;
    };
  }
  if (scope === undefined) return () => true;
  const wanted = formatScope(scope);
  return (entry) => {
    const s = fromProtoScope(entry.scope);
    if (s === undefined) return false;
    if (formatScope(s) === wanted) return true;
    // A vCluster watch also shows the entries of the vCluster's nodes.
    return scope.kind === "vcluster" && s.kind === "node" && vclusterOf(state(), s.id) === scope.id;
  };
}

function vclusterOf(state: JournalState, nodeId: string): string | undefined {
  return state.nodes.get(nodeId)?.vclusterId || undefined;
}

/** Classifies an entry for subscribers. */
export function updateKindOf(entry: ConfigEntry): UpdateKind {
  switch (entry.entryType) {
    case EntryType.OVERLAY_UPDATE:
      return UpdateKind.OVERLAY;
    case EntryType.POLICY_UPDATE:
      return UpdateKind.POLICY;
    case EntryType.BLACKLIST_CHANGE:
      return UpdateKind.BLACKLIST;
    case EntryType.EMERGENCY_START:
    case EntryType.EMERGENCY_END:
      return UpdateKind.EMERGENCY;
    case EntryType.NODE_REGISTERED:
    case EntryType.NODE_ACTIVATED:
    case EntryType.NODE_DEACTIVATED:
    case EntryType.NODE_DECOMMISSIONED:
    case EntryType.NODE_ASSIGNED:
    case EntryType.NODE_UNASSIGNED:
    case EntryType.NODE_MOVED:
    case EntryType.CERT_SIGNED:
    case EntryType.CERT_REVOKED:
    case EntryType.CA_ROTATED:
      return UpdateKind.ENROLLMENT;
    case EntryType.COMMIT:
    case EntryType.ROLLBACK:
    case EntryType.AUTO_CONVERGE:
      return fromProtoScope(entry.scope)?.kind === "vcluster"
        ? UpdateKind.OVERLAY
        : UpdateKind.NODE_DELTA;
    default:
      return UpdateKind.AUDIT;
  }
}

/** The update a subscriber receives for `entry`. */
export function updateOf(entry: ConfigEntry): ConfigUpdate {
  return { sequence: entry.sequence, timestamp: entry.timestamp, kind: updateKindOf(entry), entry };
}

/** A heartbeat: the subscription is alive and the journal's head is `nextSequence`. */
export function heartbeatOf(nextSequence: number, nowMs: number): ConfigUpdate {
  return {
    sequence: nextSequence,
    timestamp: new Date(nowMs),
    kind: UpdateKind.HEARTBEAT,
    entry: undefined,
  };
}
