/**
 * Plain, JSON-ready views of journal data. Operations return these; the CLI
 * prints them as tables or JSON and the MCP server returns them as tool output.
 */
import {
  type BootRecord,
  type ConfigEntry,
  ConfigState,
  type NodeState,
  PrincipalType,
  UpdateKind,
} from "../../shared/proto/gen/pact/config/config.ts";
import type { JournalStatus } from "../../shared/proto/gen/pact/journal/journal.ts";
import type { ConfigUpdate } from "../../shared/proto/gen/pact/stream/stream.ts";
import { entryTypeName } from "../../shared/domain/entry_type.ts";
import { formatScope, fromProtoScope } from "../../shared/domain/scope.ts";
import { toJsonValue } from "../output/json_value.ts";

/** One journal entry. */
export interface EntryView {
  readonly sequence: number;
  readonly timestamp: string | undefined;
  readonly type: string;
  readonly scope: string;
  readonly author: {
    readonly principal: string;
    readonly role: string;
    readonly principal_type: string;
  };
  readonly message: string;
  readonly parent?: number;
  readonly ttl_seconds?: number;
  readonly emergency_reason?: string;
  readonly policy_ref?: string;
  readonly request_id?: string;
  readonly metadata?: Record<string, string>;
  readonly payload?: unknown;
}

/** What the journal knows about one node. */
export interface NodeView {
  readonly node_id: string;
  readonly state: string;
  readonly vcluster: string | null;
  readonly version: number;
  readonly updated_at: string | undefined;
  readonly last_commit_sequence: number | null;
  readonly committed_deltas: number;
  readonly drift_events: number;
  readonly emergency: {
    readonly reason: string;
    readonly admin: string;
    readonly started_at: string | undefined;
    readonly expires_at: string | undefined;
    readonly start_sequence: number;
  } | null;
  /** The node's latest boot as its agent journaled it; absent before the first. */
  readonly last_boot?: BootView;
}

/** One boot of a node: each phase with its duration and outcome (BOOT_CONFIG). */
export interface BootView {
  readonly total_ms: number;
  readonly from_cache: boolean;
  readonly overlay_version: number;
  readonly phases: readonly {
    readonly name: string;
    readonly duration_ms: number;
    readonly ok: boolean;
    readonly detail: string;
  }[];
}

/** Facts about the journal serving the call. */
export interface JournalView {
  readonly endpoint: string;
  readonly node_id: string;
  readonly role: string;
  readonly store: string;
  readonly version: string;
  readonly next_sequence: number;
  readonly snapshot_sequence: number;
  readonly nodes: number;
  readonly vclusters: number;
  readonly active_emergencies: number;
  readonly started_at: string | undefined;
  readonly pending_approvals: number;
  /** The journal's policy engine; `degraded` while OPA is unreachable. */
  readonly policy: {
    readonly engine: string;
    readonly degraded: boolean;
    readonly degraded_reason: string | null;
    readonly degraded_since: string | null;
  };
}

/** One live update, as `pact watch` shows it. */
export interface UpdateView {
  readonly sequence: number;
  readonly timestamp: string | undefined;
  readonly kind: string;
  readonly entry: EntryView | null;
}

export function entryView(entry: ConfigEntry): EntryView {
  const scope = fromProtoScope(entry.scope);
  return {
    sequence: entry.sequence,
    timestamp: entry.timestamp?.toISOString(),
    type: entryTypeName(entry.entryType),
    scope: scope ? formatScope(scope) : "-",
    author: {
      principal: entry.author?.principal ?? "",
      role: entry.author?.role ?? "",
      principal_type: principalTypeName(entry.author?.principalType ?? PrincipalType.UNSPECIFIED),
    },
    message: entry.message,
    ...(entry.parent !== undefined ? { parent: entry.parent } : {}),
    ...(entry.ttlSeconds ? { ttl_seconds: entry.ttlSeconds } : {}),
    ...(entry.emergencyReason ? { emergency_reason: entry.emergencyReason } : {}),
    ...(entry.policyRef ? { policy_ref: entry.policyRef } : {}),
    ...(entry.requestId ? { request_id: entry.requestId } : {}),
    ...(Object.keys(entry.metadata).length > 0 ? { metadata: entry.metadata } : {}),
    ...(entry.payload ? { payload: toJsonValue(entry.payload) } : {}),
  };
}

export function nodeView(node: NodeState): NodeView {
  return {
    node_id: node.nodeId,
    state: configStateName(node.configState),
    vcluster: node.vclusterId || null,
    version: node.version,
    updated_at: node.updatedAt?.toISOString(),
    last_commit_sequence: node.lastCommitSequence ?? null,
    committed_deltas: node.committedDeltas,
    drift_events: node.driftEvents,
    emergency: node.emergency
      ? {
        reason: node.emergency.reason,
        admin: node.emergency.admin?.principal ?? "",
        started_at: node.emergency.startedAt?.toISOString(),
        expires_at: node.emergency.expiresAt?.toISOString(),
        start_sequence: node.emergency.startSequence,
      }
      : null,
    ...(node.lastBoot ? { last_boot: bootView(node.lastBoot) } : {}),
  };
}

export function bootView(boot: BootRecord): BootView {
  return {
    total_ms: boot.totalMs,
    from_cache: boot.fromCache,
    overlay_version: boot.overlayVersion,
    phases: boot.phases.map((p) => ({
      name: p.name,
      duration_ms: p.durationMs,
      ok: p.ok,
      detail: p.detail,
    })),
  };
}

export function journalView(status: JournalStatus, endpoint: string): JournalView {
  return {
    endpoint,
    node_id: status.nodeId,
    role: status.role,
    store: status.store,
    version: status.version,
    next_sequence: status.nextSequence,
    snapshot_sequence: status.snapshotSequence,
    nodes: status.nodes,
    vclusters: status.vclusters,
    active_emergencies: status.activeEmergencies,
    started_at: status.startedAt?.toISOString(),
    pending_approvals: status.pendingApprovals,
    policy: {
      engine: status.policyEngine || "rbac",
      degraded: status.policyDegraded,
      degraded_reason: status.policyDegraded ? status.policyDegradedReason : null,
      degraded_since: status.policyDegradedSince?.toISOString() ?? null,
    },
  };
}

export function updateView(update: ConfigUpdate): UpdateView {
  return {
    sequence: update.sequence,
    timestamp: update.timestamp?.toISOString(),
    kind: UpdateKind[update.kind] ?? "UNKNOWN",
    entry: update.entry ? entryView(update.entry) : null,
  };
}

/** `COMMITTED`, `DRIFTED`, ... */
export function configStateName(state: ConfigState): string {
  return state === ConfigState.UNSPECIFIED ? "UNKNOWN" : (ConfigState[state] ?? "UNKNOWN");
}

function principalTypeName(type: PrincipalType): string {
  return type === PrincipalType.UNSPECIFIED
    ? "unknown"
    : (PrincipalType[type] ?? "unknown").toLowerCase();
}
