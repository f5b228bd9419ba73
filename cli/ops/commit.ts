import { type ConfigEntry, EntryType } from "../../shared/proto/gen/pact/config/config.ts";
import { checkId } from "../../shared/domain/scope.ts";
import { clientEntry } from "./entry.ts";
import { isPactError, PactError } from "../../shared/errors/mod.ts";
import type { JournalApi } from "./journal_port.ts";
import type {
  CommitRequest as AgentCommitRequest,
  CommitResponse as AgentCommitResponse,
} from "../../shared/proto/gen/pact/shell/shell.ts";

/** What `pact commit` asks of a node's agent. */
export interface CommitRequest {
  readonly node: string;
  readonly message: string;
  readonly ttlSeconds?: number | undefined;
  /** Commit only if the node's version is still this (else CONFLICT); default: as read now. */
  readonly ifVersion?: number | undefined;
}

/** The agent call `pact commit` makes (AgentClient, or a fake in tests). */
export interface CommitAgentApi {
  commit(request: AgentCommitRequest): Promise<AgentCommitResponse>;
}

/** One committed key. */
export interface CommittedKey {
  readonly dimension: string;
  readonly key: string;
  /** added, modified or removed. */
  readonly change: string;
  /** The accepted value (sysctl value, file hash, mount type:source...). */
  readonly value: string;
}

/** Where a commit landed. */
export interface CommitResult {
  /** The Commit entry's sequence; while approval is pending, the PendingApproval entry's. */
  readonly sequence: number;
  readonly node: string;
  readonly duplicate: boolean;
  /**
   * `agent`: the node's agent recorded its drift as the entry's delta;
   * `journal`: the agent was unreachable, the entry carries no delta.
   */
  readonly recorded_by: "agent" | "journal";
  /** The keys the Commit entry's StateDelta carries. */
  readonly items: readonly CommittedKey[];
  /** Set when the vCluster's policy requires a second person to approve first. */
  readonly approval: PendingApprovalView | null;
}

/** A write the journal holds until another admin approves it. */
export interface PendingApprovalView {
  readonly approval_id: string;
  readonly vcluster: string;
  readonly expires_at: string | undefined;
}

/**
 * `pact commit`: the node's agent records a node-scoped Commit entry that
 * carries the StateDelta of its current drift, written with the caller's
 * token, and accepts those keys as declared. Optimistic: the write names
 * the node's version as read from the journal (`journal`, when given), so
 * a concurrent change makes it fail with CONFLICT.
 */
export async function commitNode(
  agent: CommitAgentApi,
  journal: JournalApi | undefined,
  request: CommitRequest,
): Promise<CommitResult> {
  const node = checkId("node", request.node);
  if (request.message.trim() === "") {
    throw new PactError(
      "INVALID_ARGUMENT",
      'A commit needs a message: pass -m "what changed and why"',
    );
  }
  const ttl = request.ttlSeconds;
  const version = request.ifVersion ??
    (journal === undefined ? undefined : await currentVersion(journal, node));
  const response = await agent.commit({
    message: request.message,
    ttlSeconds: ttl ?? 0,
    ...(version !== undefined ? { ifVersion: version } : {}),
  });
  return {
    sequence: response.sequence,
    node,
    duplicate: response.duplicate,
    recorded_by: "agent",
    items: response.items.map((i) => ({
      dimension: i.dimension,
      key: i.key,
      change: i.detail,
      value: i.actual,
    })),
    approval: response.pendingApprovalId === "" ? null : {
      approval_id: response.pendingApprovalId,
      vcluster: response.approvalVclusterId,
      expires_at: response.approvalExpiresAtMs === 0
        ? undefined
        : new Date(response.approvalExpiresAtMs).toISOString(),
    },
  };
}

/**
 * True when `err` says the node's agent could not be reached at all (no
 * such host, connection refused...), as opposed to an answer from it.
 */
export function agentUnreachable(err: unknown): boolean {
  return isPactError(err, "UNAVAILABLE") &&
    (/^Agent unreachable at \S+: (host not found|connection refused|host unreachable|connection timed out)/
      .test(err.message) ||
      // The connect timeout (agent_channel.ts): no connection at all, e.g. a name that never resolves.
      /^Agent at \S+: no connection within /.test(err.message));
}

/**
 * The fallback when the node's agent cannot be reached: a node-scoped
 * Commit without a delta, appended with the caller's token (the agent,
 * once it hears it through its subscription, accepts all its drift).
 */
export async function commitWithoutAgent(
  journal: JournalApi,
  request: CommitRequest,
): Promise<CommitResult> {
  const node = checkId("node", request.node);
  const version = request.ifVersion ?? await currentVersion(journal, node);
  const response = await journal.appendEntry({
    entry: commitEntry(node, request.message, request.ttlSeconds),
    ...(version !== undefined ? { expectedScopeVersion: version } : {}),
  });
  return {
    sequence: response.sequence,
    node,
    duplicate: response.duplicate,
    recorded_by: "journal",
    items: [],
    approval: response.pendingApprovalId === "" ? null : {
      approval_id: response.pendingApprovalId,
      vcluster: response.approvalVclusterId,
      expires_at: response.approvalExpiresAt?.toISOString(),
    },
  };
}

/**
 * A node-scoped Commit entry without a delta, for journal-level tools and
 * benchmarks (`pact commit` itself goes through the node's agent, which
 * adds the delta): the journal stamps the sequence, time and author; a
 * fresh request id makes a retry idempotent.
 */
export function commitEntry(node: string, message: string, ttlSeconds?: number): ConfigEntry {
  return {
    ...clientEntry(EntryType.COMMIT, { kind: "node", id: node }, message),
    ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
  };
}

async function currentVersion(journal: JournalApi, node: string): Promise<number | undefined> {
  try {
    return (await journal.getNodeState(node)).version;
  } catch (err) {
    if (isPactError(err, "NOT_FOUND")) return undefined;
    throw err;
  }
}
