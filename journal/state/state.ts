import { Map as IMap, OrderedMap } from "immutable";
import type { ApprovalRecord } from "./approvals.ts";
import { emptyEnrollmentBook, type EnrollmentBook } from "./enrollments.ts";
import {
  type BootOverlay,
  type BootRecord,
  type ConfigEntry,
  ConfigState,
  type Identity,
  type VClusterPolicy,
} from "../../shared/proto/gen/pact/config/config.ts";

/** An active emergency session on one node. */
export interface EmergencyRecord {
  readonly reason: string;
  readonly admin: Identity;
  readonly startedAtMs: number;
  readonly expiresAtMs: number;
  readonly startSequence: number;
}

/** What the journal knows about one node. Records are replaced, never mutated. */
export interface NodeRecord {
  readonly nodeId: string;
  readonly configState: ConfigState;
  /** Assigned vCluster, or "" when unassigned. */
  readonly vclusterId: string;
  /** Sequence of the latest entry scoped to this node. */
  readonly version: number;
  readonly updatedAtMs: number;
  readonly lastCommitSequence: number | undefined;
  /** Node-scoped commits carrying a delta that no overlay has superseded. */
  readonly committedDeltas: number;
  readonly driftEvents: number;
  readonly emergency: EmergencyRecord | undefined;
  readonly lastBoot: BootRecord | undefined;
  /**
   * The entries phase 2 of a boot re-applies, oldest first (see
   * boot_entries.ts): held in memory so that boot streams never read the
   * store per node.
   */
  readonly bootEntries: readonly ConfigEntry[];
}

/** What the journal knows about one vCluster. */
export interface VClusterRecord {
  readonly vclusterId: string;
  /** Sequence of the latest entry scoped to this vCluster. */
  readonly version: number;
  readonly policy: VClusterPolicy | undefined;
  readonly overlay: BootOverlay | undefined;
}

/**
 * The materialized state built by folding every entry through `applyEntry`.
 * Persistent maps make each step cheap and leave earlier states intact, so
 * a batch can be computed speculatively and dropped if the store refuses it.
 */
export interface JournalState {
  /** Sequence the next entry gets; equals the number of entries applied. */
  readonly nextSequence: number;
  /** Timestamp of the latest entry; entry timestamps never go backwards. */
  readonly lastTimestampMs: number;
  readonly nodes: IMap<string, NodeRecord>;
  readonly vclusters: IMap<string, VClusterRecord>;
  /** Sequence of the latest global-scope entry. */
  readonly globalVersion: number | undefined;
  /** Recent idempotency keys mapped to the sequence they produced, oldest first. */
  readonly requestIds: OrderedMap<string, number>;
  /** Applied entries per entry type. */
  readonly entryCounts: IMap<number, number>;
  /** Two-person approvals by id, every status (see approvals.ts). */
  readonly approvals: IMap<string, ApprovalRecord>;
  /** Node registrations, certificates, revoked serials and the CA (see enrollments.ts). */
  readonly enrollment: EnrollmentBook;
}

/** How many idempotency keys the journal remembers. */
export const REQUEST_IDS_MAX = 100_000;

/** The state of an empty journal. */
export function emptyState(): JournalState {
  return {
    nextSequence: 0,
    lastTimestampMs: 0,
    nodes: IMap(),
    vclusters: IMap(),
    globalVersion: undefined,
    requestIds: OrderedMap(),
    entryCounts: IMap(),
    approvals: IMap(),
    enrollment: emptyEnrollmentBook(),
  };
}

/** A node the journal has not seen an entry for yet. */
export function newNode(nodeId: string): NodeRecord {
  return {
    nodeId,
    configState: ConfigState.OBSERVE_ONLY,
    vclusterId: "",
    version: 0,
    updatedAtMs: 0,
    lastCommitSequence: undefined,
    committedDeltas: 0,
    driftEvents: 0,
    emergency: undefined,
    lastBoot: undefined,
    bootEntries: [],
  };
}

/** A vCluster the journal has not seen an entry for yet. */
export function newVCluster(vclusterId: string): VClusterRecord {
  return { vclusterId, version: 0, policy: undefined, overlay: undefined };
}
