import type {
  PendingApproval,
  PolicyServiceServer,
} from "../../shared/proto/gen/pact/policy/policy.ts";
import {
  ApprovalStatus,
  ConfigEntry,
  EntryType,
  type VClusterPolicy,
} from "../../shared/proto/gen/pact/config/config.ts";
import { checkId, fromProtoScope, GLOBAL, toProtoScope } from "../../shared/domain/scope.ts";
import { PactError } from "../../shared/errors/mod.ts";
import type { Journal } from "../core/journal.ts";
import { actionNames, parseAction } from "../policy/actions.ts";
import type { ApprovalDesk } from "../policy/approval_desk.ts";
import { effectivePolicy } from "../policy/effective_policy.ts";
import type { PolicyEngine } from "../policy/engine.ts";
import type { ApprovalRecord } from "../state/approvals.ts";
import type { JournalState } from "../state/state.ts";
import { authorizeCustomRead, denialError } from "./authz.ts";
import { type HandlerDeps, type RequestContext, unary } from "./handlers.ts";
import { identityOf } from "./identity.ts";

/** What the PolicyService needs. */
export interface PolicyServiceDeps extends HandlerDeps {
  readonly journal: Journal;
  readonly policy: PolicyEngine;
  readonly approvals: ApprovalDesk;
}

/** The journal's PolicyService handlers: decisions, vCluster policies, approvals. */
export function policyService(deps: PolicyServiceDeps): PolicyServiceServer {
  const { journal, policy, approvals } = deps;
  return {
    evaluate: unary(deps, "Evaluate", async (request, { principal }) => {
      const action = parseAction(request.action);
      if (action === undefined) {
        throw new PactError(
          "INVALID_ARGUMENT",
          `Unknown action ${JSON.stringify(request.action)}: use one of ${
            actionNames().join(", ")
          }`,
        );
      }
      const scope = fromProtoScope(request.scope) ?? GLOBAL;
      const decision = await policy.authorize(journal.state, {
        principal,
        action,
        scope,
        command: request.command,
      });
      const base = { policyRef: decision.policyRef, degraded: decision.degraded };
      if (decision.kind === "deny") {
        return {
          ...base,
          authorized: false,
          denialReason: decision.reason,
          approvalRequired: undefined,
        };
      }
      if (decision.kind === "allow") {
        return { ...base, authorized: true, denialReason: "", approvalRequired: undefined };
      }
      const entry = ConfigEntry.fromPartial({
        entryType: EntryType.EXEC_LOG,
        scope: toProtoScope(scope),
        author: identityOf(principal),
        message: [action, request.command].filter((s) => s !== "").join(": "),
      });
      const pending = await approvals.request({
        entry,
        expectedScopeVersion: undefined,
        action,
        vclusterId: decision.vclusterId,
        timeoutSeconds: decision.timeoutSeconds,
        policyRef: decision.policyRef,
        journalRuns: false,
      });
      return {
        ...base,
        authorized: false,
        denialReason: "",
        approvalRequired: {
          approvalType: "two_person",
          pendingApprovalId: pending.approvalId,
          expiresAt: new Date(pending.expiresAtMs),
        },
      };
    }),

    getEffectivePolicy: unary(deps, "GetEffectivePolicy", async (request, { principal }) => {
      await authorizeCustomRead(deps.policy, journal.state, principal);
      return effectivePolicy(journal.state, checkId("vcluster", request.vclusterId));
    }),

    listPolicies: unary(deps, "ListPolicies", async (_request, { principal }) => {
      await authorizeCustomRead(deps.policy, journal.state, principal);
      const state = journal.state;
      return ({
        policies: knownVClusters(state).map((id) => effectivePolicy(state, id)),
      });
    }),

    updatePolicy: unary(deps, "UpdatePolicy", async (request, context) => {
      const vclusterId = checkId("vcluster", request.vclusterId);
      const proposed = checkPolicy(vclusterId, request.policy);
      await authorizeOn(deps, context, "policy_update", vclusterId);
      const result = await journal.append({
        entry: ConfigEntry.fromPartial({
          entryType: EntryType.POLICY_UPDATE,
          scope: toProtoScope({ kind: "vcluster", id: vclusterId }),
          author: identityOf(context.principal),
          policyRef: `rbac:${effectivePolicy(journal.state, vclusterId).policyId}:policy_update`,
          message: request.message || `policy update for vCluster ${vclusterId}`,
          payload: { $case: "policy", value: proposed },
        }),
        expectedScopeVersion: request.expectedScopeVersion,
      });
      const stored = journal.state.vclusters.get(vclusterId)?.policy;
      return {
        success: true,
        policyRef: `policy:${stored?.policyId ?? `seq-${result.sequence}`}`,
        sequence: result.sequence,
      };
    }),

    listPendingApprovals: unary(deps, "ListPendingApprovals", async (request, { principal }) => {
      await authorizeCustomRead(deps.policy, journal.state, principal);
      const list = [...journal.state.approvals.values()]
        .filter((a) => request.vclusterId === "" || a.vclusterId === request.vclusterId)
        .filter((a) => request.all || a.status === ApprovalStatus.PENDING)
        .sort((a, b) => a.requestSequence - b.requestSequence)
        .map(approvalView);
      return { approvals: list };
    }),

    getApproval: unary(deps, "GetApproval", async (request, { principal }) => {
      await authorizeCustomRead(deps.policy, journal.state, principal);
      return approvalView(findApproval(journal.state, request.approvalId));
    }),

    decideApproval: unary(deps, "DecideApproval", async (request, context) => {
      const status = parseDecision(request.decision);
      const record = findApproval(journal.state, request.approvalId);
      if (context.principal.principalType !== "human") {
        throw new PactError(
          "PERMISSION_DENIED",
          `Permission denied for ${context.principal.principal}: approvals need a human principal`,
        );
      }
      await authorizeOn(deps, context, "approve", record.vclusterId);
      const result = await approvals.decide(
        identityOf(context.principal),
        record.approvalId,
        status,
        request.reason,
      );
      return {
        success: true,
        sequence: result.sequence,
        executedSequence: result.executedSequence,
      };
    }),
  };
}

async function authorizeOn(
  deps: PolicyServiceDeps,
  { principal }: RequestContext,
  action: "approve" | "policy_update",
  vclusterId: string,
): Promise<void> {
  const decision = await deps.policy.authorize(deps.journal.state, {
    principal,
    action,
    scope: { kind: "vcluster", id: vclusterId },
  });
  if (decision.kind === "deny") throw denialError(principal, action, decision);
}

/** Every vCluster the journal knows: from its own entries or from node assignments. */
function knownVClusters(state: JournalState): string[] {
  const ids = new Set<string>(state.vclusters.keys());
  for (const node of state.nodes.values()) if (node.vclusterId !== "") ids.add(node.vclusterId);
  return [...ids].sort();
}

function findApproval(state: JournalState, approvalId: string): ApprovalRecord {
  const record = state.approvals.get(approvalId);
  if (!record) {
    throw new PactError(
      "NOT_FOUND",
      `Approval ${JSON.stringify(approvalId)} not found: pact approve list shows pending ones`,
    );
  }
  return record;
}

function parseDecision(text: string): ApprovalStatus.APPROVED | ApprovalStatus.REJECTED {
  switch (text.toLowerCase()) {
    case "approved":
    case "approve":
      return ApprovalStatus.APPROVED;
    case "rejected":
    case "reject":
    case "denied":
    case "deny":
      return ApprovalStatus.REJECTED;
    default:
      throw new PactError(
        "INVALID_ARGUMENT",
        `Invalid decision ${JSON.stringify(text)}: use approved or rejected`,
      );
  }
}

const ENFORCEMENT_MODES = ["", "observe", "warn", "enforce"];
const SUPERVISOR_BACKENDS = ["", "pact", "systemd"];

/** Checks what the journal relies on in a proposed policy; the CLI checks the rest. */
function checkPolicy(vclusterId: string, policy: VClusterPolicy | undefined): VClusterPolicy {
  if (!policy) throw new PactError("INVALID_ARGUMENT", "UpdatePolicy needs a policy");
  const bad = (what: string) => {
    throw new PactError("INVALID_ARGUMENT", `Invalid policy for vCluster ${vclusterId}: ${what}`);
  };
  if (policy.vclusterId !== "" && policy.vclusterId !== vclusterId) {
    bad(`it names vCluster ${JSON.stringify(policy.vclusterId)}`);
  }
  if (!ENFORCEMENT_MODES.includes(policy.enforcementMode)) {
    bad(
      `enforcement_mode ${JSON.stringify(policy.enforcementMode)} (use observe, warn or enforce)`,
    );
  }
  if (!SUPERVISOR_BACKENDS.includes(policy.supervisorBackend)) {
    bad(`supervisor_backend ${JSON.stringify(policy.supervisorBackend)} (use pact or systemd)`);
  }
  if (policy.approvalTimeoutSeconds !== undefined && policy.approvalTimeoutSeconds < 1) {
    bad("approval_timeout_seconds must be at least 1");
  }
  return { ...policy, vclusterId };
}

/** The wire view of an approval. */
export function approvalView(record: ApprovalRecord): PendingApproval {
  return {
    approvalId: record.approvalId,
    scope: record.scope,
    action: record.action,
    description: record.description,
    requester: record.requester,
    approver: record.approver,
    status: record.status,
    createdAt: new Date(record.createdAtMs),
    expiresAt: new Date(record.expiresAtMs),
    reason: record.executionError === undefined
      ? record.reason
      : `operation not run: ${record.executionError}`,
    requestSequence: record.requestSequence,
    executedSequence: record.executedSequence,
    vclusterId: record.vclusterId,
  };
}
