/**
 * Two-person approvals from the CLI: list, approve, deny, and wait for the
 * decision on one's own request.
 */
import { approvalStatusName } from "../../shared/domain/approval_status.ts";
import type { PendingApproval } from "../../shared/proto/gen/pact/policy/policy.ts";
import { formatScope, fromProtoScope } from "../../shared/domain/scope.ts";
import { PactError } from "../../shared/errors/mod.ts";
import type { JournalApi } from "./journal_port.ts";

/** One approval request as the CLI shows it. */
export interface ApprovalView {
  readonly approval_id: string;
  readonly vcluster: string;
  readonly action: string;
  readonly scope: string;
  readonly description: string;
  readonly requester: string;
  readonly approver: string | null;
  /** `pending`, `approved`, `rejected` or `expired`. */
  readonly status: string;
  readonly created_at: string | undefined;
  readonly expires_at: string | undefined;
  readonly reason: string;
  readonly request_sequence: number;
  readonly executed_sequence: number | null;
}

/** What a decision produced. */
export interface DecisionView {
  readonly approval: ApprovalView;
  readonly sequence: number;
  readonly executed_sequence: number | null;
}

/** `pact approve list`: pending approvals (all of them with `all`), oldest first. */
export async function listApprovals(
  journal: JournalApi,
  options: { readonly vcluster?: string | undefined; readonly all?: boolean },
): Promise<ApprovalView[]> {
  const { approvals } = await journal.listPendingApprovals({
    vclusterId: options.vcluster ?? "",
    all: options.all ?? false,
  });
  return approvals.map(approvalView);
}

/** `pact approve <id>` and `pact approve deny <id> -m reason`. */
export async function decideApproval(
  journal: JournalApi,
  approvalId: string,
  decision: "approved" | "rejected",
  reason: string,
): Promise<DecisionView> {
  checkApprovalId(approvalId);
  if (decision === "rejected" && reason.trim() === "") {
    throw new PactError(
      "INVALID_ARGUMENT",
      'Denying needs a reason: pass -m "why the change must not run"',
    );
  }
  const response = await journal.decideApproval({ approvalId, decision, reason });
  return {
    approval: approvalView(await journal.getApproval(approvalId)),
    sequence: response.sequence,
    executed_sequence: response.executedSequence ?? null,
  };
}

/**
 * Polls `approvalId` until it is decided or `signal` aborts; returns the
 * last state seen (still pending when aborted).
 */
export async function waitForDecision(
  journal: JournalApi,
  approvalId: string,
  signal: AbortSignal,
  pollMs = 1000,
): Promise<ApprovalView> {
  let view = approvalView(await journal.getApproval(approvalId));
  while (view.status === "pending" || (view.status === "approved" && isRunning(view))) {
    if (signal.aborted) return view;
    await sleep(pollMs, signal);
    if (signal.aborted) return view;
    view = approvalView(await journal.getApproval(approvalId));
  }
  return view;
}

/** The error a requester's command ends with when the approval did not go through. */
export function outcomeError(view: ApprovalView): PactError | undefined {
  switch (view.status) {
    case "rejected":
      return new PactError(
        "POLICY_DENIED",
        `Approval ${view.approval_id} denied by ${view.approver ?? "?"}: ${
          view.reason || "no reason"
        }`,
      );
    case "expired":
      return new PactError(
        "POLICY_DENIED",
        `Approval ${view.approval_id} expired at ${view.expires_at}: nobody decided in time; submit the change again`,
      );
    case "approved":
      return view.executed_sequence === null && view.reason !== ""
        ? new PactError("VALIDATION", `Approval ${view.approval_id}: ${view.reason}`)
        : undefined;
    default:
      return undefined;
  }
}

function checkApprovalId(id: string): void {
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(id)) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Invalid approval id ${
        JSON.stringify(id)
      }: expected an id like ap-7f3a9c21 (see pact approve list)`,
    );
  }
}

/** Approved, but the journal has not run the operation yet (it will, or report a failure). */
function isRunning(view: ApprovalView): boolean {
  return view.executed_sequence === null && view.reason === "";
}

function approvalView(a: PendingApproval): ApprovalView {
  const scope = fromProtoScope(a.scope);
  return {
    approval_id: a.approvalId,
    vcluster: a.vclusterId,
    action: a.action,
    scope: scope ? formatScope(scope) : "-",
    description: a.description,
    requester: a.requester?.principal ?? "",
    approver: a.approver?.principal || null,
    status: approvalStatusName(a.status),
    created_at: a.createdAt?.toISOString(),
    expires_at: a.expiresAt?.toISOString(),
    reason: a.reason,
    request_sequence: a.requestSequence,
    executed_sequence: a.executedSequence ?? null,
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
