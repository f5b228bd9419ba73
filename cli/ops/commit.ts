import { type ConfigEntry, EntryType } from "../../shared/proto/gen/pact/config/config.ts";
import { checkId } from "../../shared/domain/scope.ts";
import { clientEntry } from "./entry.ts";
import { isPactError, PactError } from "../../shared/errors/mod.ts";
import type { JournalApi } from "./journal_port.ts";

/** What `pact commit` records. */
export interface CommitRequest {
  readonly node: string;
  readonly message: string;
  readonly ttlSeconds?: number | undefined;
  /** Commit only if the node's version is still this (else CONFLICT); default: as read now. */
  readonly ifVersion?: number | undefined;
}

/** Where a commit landed. */
export interface CommitResult {
  /** The Commit entry's sequence; while approval is pending, the PendingApproval entry's. */
  readonly sequence: number;
  readonly node: string;
  readonly duplicate: boolean;
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
 * `pact commit`: records a node-scoped Commit entry, accepting the node's
 * current state as its declared state. Optimistic: the write names the
 * node's version as read, so a concurrent change makes it fail with CONFLICT.
 */
export async function commitNode(
  journal: JournalApi,
  request: CommitRequest,
): Promise<CommitResult> {
  const node = checkId("node", request.node);
  if (request.message.trim() === "") {
    throw new PactError(
      "INVALID_ARGUMENT",
      'A commit needs a message: pass -m "what changed and why"',
    );
  }
  const version = request.ifVersion ?? await currentVersion(journal, node);
  const response = await journal.appendEntry({
    entry: commitEntry(node, request.message, request.ttlSeconds),
    ...(version !== undefined ? { expectedScopeVersion: version } : {}),
  });
  return {
    sequence: response.sequence,
    node,
    duplicate: response.duplicate,
    approval: response.pendingApprovalId === "" ? null : {
      approval_id: response.pendingApprovalId,
      vcluster: response.approvalVclusterId,
      expires_at: response.approvalExpiresAt?.toISOString(),
    },
  };
}

/**
 * The Commit entry `pact commit` sends for `node`: the journal stamps the
 * sequence, time and author; a fresh request id makes a retry idempotent.
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
