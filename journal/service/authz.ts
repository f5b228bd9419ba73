import type { Principal } from "../../shared/auth/principal.ts";
import { parseRole } from "../../shared/domain/roles.ts";
import { fromProtoScope, GLOBAL } from "../../shared/domain/scope.ts";
import { PactError } from "../../shared/errors/mod.ts";
import { type ConfigEntry, EntryType } from "../../shared/proto/gen/pact/config/config.ts";
import { type Action, actionOfEntry } from "../policy/actions.ts";
import type { PolicyDecision, PolicyEngine } from "../policy/engine.ts";
import { APPROVAL_ID_KEY } from "../state/approvals.ts";
import type { JournalState } from "../state/state.ts";

/**
 * Reads: any pact role may read the journal; a role pact does not know may
 * not. Writes go through the policy engine (`authorizeAppend`).
 */
export function authorizeRead(principal: Principal): void {
  // Custom roles get a second chance through `authorizeCustomRead`.
  if (parseRole(principal.role).kind === "custom") {
    throw new PactError(
      "PERMISSION_DENIED",
      `Permission denied: unknown role ${JSON.stringify(principal.role)}`,
    );
  }
}

/**
 * Reads by a role pact does not know: allowed when a vCluster's role
 * bindings name the role, or when OPA grants it `status` (site roles);
 * refused otherwise.
 */
export async function authorizeCustomRead(
  engine: PolicyEngine,
  state: JournalState,
  principal: Principal,
): Promise<void> {
  if (parseRole(principal.role).kind !== "custom") return;
  const bound = state.vclusters.some((vc) =>
    vc.policy?.roleBindings.some((b) => b.role === principal.role) ?? false
  );
  if (bound) return;
  const decision = await engine.authorize(state, { principal, action: "status", scope: GLOBAL });
  // Without OPA's answer the role stays unknown: fail closed, saying why.
  if (decision.kind === "deny" && decision.degraded) {
    throw denialError(principal, "status", decision);
  }
  if (decision.kind !== "allow") authorizeRead(principal);
}

/** An append the policy engine allowed outright or deferred to a second person. */
export type AppendDecision = Exclude<PolicyDecision, { kind: "deny" }> & {
  readonly action: Action;
};

/**
 * Decides whether `principal` may append `entry`: throws PERMISSION_DENIED
 * (the role may not, exit 2) or POLICY_DENIED (a policy rule or OPA
 * refused, exit 3); otherwise says whether it may be appended now or needs
 * two-person approval first. Approval books are the journal's own.
 */
export async function authorizeAppend(
  engine: PolicyEngine,
  state: JournalState,
  principal: Principal,
  entry: ConfigEntry,
): Promise<AppendDecision> {
  const action = actionOfEntry(entry.entryType);
  if (action === undefined) {
    throw new PactError(
      "PERMISSION_DENIED",
      "Permission denied: approval entries are written by the journal itself (use pact approve)",
    );
  }
  if (ENROLLMENT_OWNED.has(entry.entryType)) {
    throw new PactError(
      "PERMISSION_DENIED",
      "Permission denied: registrations, certificates and the CA are written by the EnrollmentService itself (use pact enroll or pact node)",
    );
  }
  if (entry.metadata[APPROVAL_ID_KEY] !== undefined) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Metadata key ${APPROVAL_ID_KEY} is reserved for operations the journal runs after approval`,
    );
  }
  const payload = entry.payload;
  const decision = await engine.authorize(state, {
    principal,
    action,
    scope: fromProtoScope(entry.scope) ?? GLOBAL,
    ...(payload?.$case === "exec"
      ? { command: [payload.value.command, ...payload.value.args].join(" ") }
      : {}),
  });
  if (decision.kind === "deny") throw denialError(principal, action, decision);
  return { ...decision, action };
}

/**
 * Entry types only the EnrollmentService writes: a registration or
 * certificate appended by hand would bypass its checks, and a CA entry
 * could plant a signing key. Assignments stay appendable.
 */
const ENROLLMENT_OWNED: ReadonlySet<EntryType> = new Set([
  EntryType.NODE_REGISTERED,
  EntryType.NODE_ACTIVATED,
  EntryType.NODE_DEACTIVATED,
  EntryType.NODE_DECOMMISSIONED,
  EntryType.CERT_SIGNED,
  EntryType.CERT_REVOKED,
  EntryType.CA_ROTATED,
  EntryType.ENROLLMENT_REFUSED,
]);

/** The error a denied decision is reported with. */
export function denialError(
  principal: Principal,
  action: Action,
  decision: Extract<PolicyDecision, { kind: "deny" }>,
): PactError {
  return decision.code === "PERMISSION_DENIED"
    ? new PactError(
      "PERMISSION_DENIED",
      `Permission denied for ${principal.principal}: ${decision.reason}`,
    )
    : new PactError("POLICY_DENIED", `Policy rejected ${action}: ${decision.reason}`);
}
