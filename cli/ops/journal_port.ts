import type { JournalClient } from "../client/journal_client.ts";

/**
 * The journal calls operations make. The real JournalClient satisfies it;
 * operation tests may pass anything with the same shape.
 */
export type JournalApi = Pick<
  JournalClient,
  | "endpoint"
  | "appendEntry"
  | "getNodeState"
  | "listNodeStates"
  | "getJournalStatus"
  | "getClusterStatus"
  | "listEntries"
  | "subscribe"
  | "getEntry"
  | "evaluate"
  | "getEffectivePolicy"
  | "listPolicies"
  | "updatePolicy"
  | "listPendingApprovals"
  | "getApproval"
  | "decideApproval"
>;
