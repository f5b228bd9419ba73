/**
 * Two-person approvals as part of the materialized state: the pure state
 * machine Pending → Approved | Rejected | Expired, folded from the log.
 *
 * - A PendingApproval entry creates a Pending record holding the deferred
 *   operation (an encoded ConfigEntry; empty for decisions a caller acts
 *   on itself, such as an agent's exec).
 * - An ApprovalDecision entry moves a Pending record to Approved (author ≠
 *   requester), Rejected or Expired. Deciding a record that is not Pending
 *   is refused, which makes concurrent or repeated decisions idempotent.
 * - The approved operation, appended with metadata `approval_id`, marks the
 *   record executed; it is accepted once only.
 * - An ApprovalDecision with metadata `execution = failed` records that the
 *   approved operation could not be appended (e.g. a conflict).
 */
import {
  ApprovalStatus,
  ConfigEntry,
  EntryType,
  type Identity,
  type Scope,
} from "../../shared/proto/gen/pact/config/config.ts";
import type { JournalState } from "./state.ts";
import { ValidationError } from "./validation_error.ts";
import { approvalStatusName } from "../../shared/domain/approval_status.ts";

/** Metadata key naming the approval an executed operation belongs to. */
export const APPROVAL_ID_KEY = "approval_id";
/** Metadata key of a PendingApproval: the scope version the operation was computed against. */
export const EXPECTED_VERSION_KEY = "expected_scope_version";
/** Metadata key of an ApprovalDecision that reports a failed execution. */
export const EXECUTION_KEY = "execution";

/** One approval request and its fate. Records are replaced, never mutated. */
export interface ApprovalRecord {
  readonly approvalId: string;
  readonly vclusterId: string;
  readonly action: string;
  readonly description: string;
  /** Scope of the deferred operation. */
  readonly scope: Scope | undefined;
  readonly requester: Identity;
  readonly approver: Identity | undefined;
  readonly status: ApprovalStatus;
  readonly createdAtMs: number;
  readonly expiresAtMs: number;
  readonly decidedAtMs: number | undefined;
  readonly reason: string;
  /** Sequence of the PendingApproval entry. */
  readonly requestSequence: number;
  /** Sequence of the operation the journal appended after approval. */
  readonly executedSequence: number | undefined;
  /** Why the approved operation could not be appended. */
  readonly executionError: string | undefined;
  /** The deferred operation (encoded ConfigEntry); emptied once decided or run. */
  readonly operation: Uint8Array;
  readonly expectedScopeVersion: number | undefined;
}

/** True for the entry types that only keep approval books (they move no scope version). */
export function isApprovalBookkeeping(type: EntryType): boolean {
  return type === EntryType.PENDING_APPROVAL || type === EntryType.APPROVAL_DECISION;
}

export { approvalStatusName };

/** The approvals after `entry` (already validated and sequenced). Pure. */
export function applyApproval(
  approvals: JournalState["approvals"],
  entry: ConfigEntry,
  timestampMs: number,
): JournalState["approvals"] {
  const payload = entry.payload;
  if (entry.entryType === EntryType.PENDING_APPROVAL && payload?.$case === "approval") {
    const request = payload.value;
    const expected = entry.metadata[EXPECTED_VERSION_KEY];
    return approvals.set(request.approvalId, {
      approvalId: request.approvalId,
      vclusterId: request.vclusterId,
      action: request.action,
      description: request.description,
      scope: operationScope(request.operation) ?? entry.scope,
      requester: entry.author!,
      approver: undefined,
      status: ApprovalStatus.PENDING,
      createdAtMs: timestampMs,
      expiresAtMs: request.expiresAt?.getTime() ?? timestampMs,
      decidedAtMs: undefined,
      reason: "",
      requestSequence: entry.sequence,
      executedSequence: undefined,
      executionError: undefined,
      operation: request.operation,
      expectedScopeVersion: expected === undefined || expected === ""
        ? undefined
        : Number(expected),
    });
  }
  if (entry.entryType === EntryType.APPROVAL_DECISION && payload?.$case === "approvalDecision") {
    const decision = payload.value;
    const record = approvals.get(decision.approvalId);
    if (!record) return approvals;
    if (entry.metadata[EXECUTION_KEY] === "failed") {
      return approvals.set(record.approvalId, {
        ...record,
        executionError: decision.reason,
        operation: new Uint8Array(),
      });
    }
    const approved = decision.status === ApprovalStatus.APPROVED;
    return approvals.set(record.approvalId, {
      ...record,
      status: decision.status,
      approver: decision.status === ApprovalStatus.EXPIRED ? undefined : entry.author,
      reason: decision.reason,
      decidedAtMs: timestampMs,
      operation: approved ? record.operation : new Uint8Array(),
    });
  }
  const executes = entry.metadata[APPROVAL_ID_KEY];
  if (executes !== undefined && !isApprovalBookkeeping(entry.entryType)) {
    const record = approvals.get(executes);
    if (!record) return approvals;
    return approvals.set(executes, {
      ...record,
      executedSequence: entry.sequence,
      operation: new Uint8Array(),
    });
  }
  return approvals;
}

/**
 * Checks an entry against the approval state machine. Pure: every replica
 * reaches the same verdict, so a decision raced by two journals (or an
 * expiry and an approval) lands once and the loser is refused.
 */
export function checkApproval(state: JournalState, entry: ConfigEntry): void {
  const payload = entry.payload;
  if (entry.entryType === EntryType.PENDING_APPROVAL && payload?.$case === "approval") {
    checkPending(state, payload.value.approvalId, payload.value.vclusterId, payload.value);
    return;
  }
  if (entry.entryType === EntryType.APPROVAL_DECISION && payload?.$case === "approvalDecision") {
    checkDecision(state, entry, payload.value.approvalId, payload.value.status);
    return;
  }
  const executes = entry.metadata[APPROVAL_ID_KEY];
  if (executes !== undefined) checkExecution(state, entry, executes);
}

function checkPending(
  state: JournalState,
  approvalId: string,
  vclusterId: string,
  request: { expiresAt: Date | undefined; operation: Uint8Array },
): void {
  if (approvalId === "" || approvalId.length > 128) {
    throw new ValidationError("APPROVAL_INVALID", "Approval id required (1-128 characters)");
  }
  if (state.approvals.has(approvalId)) {
    throw new ValidationError("APPROVAL_INVALID", `Approval ${approvalId} already exists`);
  }
  if (vclusterId === "") {
    throw new ValidationError("APPROVAL_INVALID", `Approval ${approvalId} names no vCluster`);
  }
  if (request.expiresAt === undefined) {
    throw new ValidationError("APPROVAL_INVALID", `Approval ${approvalId} has no expiry time`);
  }
  if (request.operation.length > 0 && operationScope(request.operation) === undefined) {
    throw new ValidationError(
      "APPROVAL_INVALID",
      `Approval ${approvalId} carries an operation that is not a scoped ConfigEntry`,
    );
  }
}

function checkDecision(
  state: JournalState,
  entry: ConfigEntry,
  approvalId: string,
  status: ApprovalStatus,
): void {
  const record = state.approvals.get(approvalId);
  if (!record) {
    throw new ValidationError("APPROVAL_NOT_FOUND", `Approval ${approvalId} not found`);
  }
  if (entry.metadata[EXECUTION_KEY] === "failed") {
    if (
      record.status !== ApprovalStatus.APPROVED || record.executedSequence !== undefined ||
      record.executionError !== undefined
    ) {
      throw new ValidationError(
        "APPROVAL_ALREADY_DECIDED",
        `Approval ${approvalId} has no approved operation waiting to run`,
      );
    }
    return;
  }
  if (record.status !== ApprovalStatus.PENDING) {
    throw new ValidationError(
      "APPROVAL_ALREADY_DECIDED",
      `Approval ${approvalId} is already ${approvalStatusName(record.status)}`,
    );
  }
  if (
    status !== ApprovalStatus.APPROVED && status !== ApprovalStatus.REJECTED &&
    status !== ApprovalStatus.EXPIRED
  ) {
    throw new ValidationError(
      "APPROVAL_INVALID",
      `Approval decision must be approved, rejected or expired: got ${status}`,
    );
  }
  if (
    status === ApprovalStatus.APPROVED && entry.author?.principal === record.requester.principal
  ) {
    throw new ValidationError(
      "APPROVER_IS_REQUESTER",
      `${record.requester.principal} cannot approve their own request ${approvalId}: a second person must approve`,
    );
  }
}

function checkExecution(state: JournalState, entry: ConfigEntry, approvalId: string): void {
  const record = state.approvals.get(approvalId);
  const refuse = (why: string) => {
    throw new ValidationError(
      "APPROVAL_NOT_EXECUTABLE",
      `Cannot run approval ${approvalId}: ${why}`,
    );
  };
  if (!record) return refuse("no such approval");
  if (record.status !== ApprovalStatus.APPROVED) {
    return refuse(`it is ${approvalStatusName(record.status)}`);
  }
  if (record.executedSequence !== undefined) {
    return refuse(`it already ran as seq:${record.executedSequence}`);
  }
  if (record.executionError !== undefined) return refuse("its operation already failed");
  if (record.operation.length === 0) return refuse("it defers no journal operation");
  if (ConfigEntry.decode(record.operation).requestId !== entry.requestId) {
    return refuse("the entry is not the approved operation");
  }
}

function operationScope(operation: Uint8Array): Scope | undefined {
  if (operation.length === 0) return undefined;
  try {
    return ConfigEntry.decode(operation).scope;
  } catch {
    return undefined;
  }
}
