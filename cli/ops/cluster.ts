import type { ClusterStatus } from "../../shared/proto/gen/pact/journal/journal.ts";
import type { JournalApi } from "./journal_port.ts";

/** One store member as `pact cluster` shows it (JSON field names are the contract). */
export interface MemberView {
  readonly id: string;
  readonly member_id: string;
  readonly leader: boolean;
  readonly healthy: boolean;
  readonly error: string | null;
  readonly peer_urls: readonly string[];
  readonly client_urls: readonly string[];
  readonly raft_term: number;
  readonly raft_index: number;
  readonly db_size_bytes: number;
  readonly db_size_in_use_bytes: number;
  readonly version: string;
}

/** `pact cluster`: the journal quorum's health. */
export interface ClusterReport {
  readonly endpoint: string;
  readonly store: string;
  readonly node_id: string;
  readonly role: string;
  readonly writable: boolean;
  readonly healthy: boolean;
  readonly leader: string | null;
  readonly raft_term: number;
  readonly raft_index: number;
  readonly next_sequence: number;
  readonly alarms: readonly string[];
  readonly last_compaction: string | null;
  readonly last_defrag: string | null;
  readonly members: readonly MemberView[];
}

/** Reads the quorum status from the journal at `journal.endpoint`. */
export async function clusterStatus(journal: JournalApi): Promise<ClusterReport> {
  return clusterView(await journal.getClusterStatus(), journal.endpoint);
}

export function clusterView(status: ClusterStatus, endpoint: string): ClusterReport {
  const members = [...status.members].sort((a, b) =>
    a.id.localeCompare(b.id, "en", { numeric: true })
  )
    .map((m): MemberView => ({
      id: m.id,
      member_id: m.memberId,
      leader: m.isLeader,
      healthy: m.healthy,
      error: m.error || null,
      peer_urls: m.peerUrls,
      client_urls: m.clientUrls,
      raft_term: m.raftTerm,
      raft_index: m.raftIndex,
      db_size_bytes: m.dbSizeBytes,
      db_size_in_use_bytes: m.dbSizeInUseBytes,
      version: m.version,
    }));
  const leader = members.find((m) => m.leader);
  const healthyMembers = members.filter((m) => m.healthy).length;
  return {
    endpoint,
    store: status.store,
    node_id: status.nodeId,
    role: status.role,
    writable: status.writable,
    healthy: status.writable && status.alarms.length === 0 &&
      (members.length === 0 || (healthyMembers === members.length && leader !== undefined)),
    leader: leader?.id ?? null,
    raft_term: status.raftTerm,
    raft_index: status.raftIndex,
    next_sequence: status.nextSequence,
    alarms: status.alarms,
    last_compaction: status.lastCompaction?.toISOString() ?? null,
    last_defrag: status.lastDefrag?.toISOString() ?? null,
    members,
  };
}
