/**
 * Role-based access control with per-vCluster scope: a pure function of
 * the caller, the action, the target and the vCluster's policy (reference
 * §2.8, evaluation order kept). It answers allow, deny, or defer (only OPA
 * can decide: a custom role that no role binding covers).
 */
import type { Principal } from "../../shared/auth/principal.ts";
import { parseRole } from "../../shared/domain/roles.ts";
import type { ScopeRef } from "../../shared/domain/scope.ts";
import type { VClusterPolicy } from "../../shared/proto/gen/pact/config/config.ts";
import { type Action, isEmergency, isRead, isWrite } from "./actions.ts";

/** What an action is aimed at. */
export interface Target {
  readonly scope: ScopeRef;
  /** The vCluster the scope belongs to (a node's assignment); undefined for global or unassigned. */
  readonly vcluster: string | undefined;
}

/** One RBAC question. */
export interface RbacRequest {
  readonly principal: Principal;
  readonly action: Action;
  readonly target: Target;
  /** The target vCluster's effective policy (the default one when it has none). */
  readonly policy: VClusterPolicy;
  /** Whether an OPA endpoint is configured (custom roles defer to it). */
  readonly opaConfigured: boolean;
}

/** The RBAC verdict; `rule` names the rule that decided, for the policy_ref. */
export type RbacDecision =
  | { readonly kind: "allow"; readonly rule: string }
  | { readonly kind: "deny"; readonly reason: string }
  | { readonly kind: "defer"; readonly reason: string };

const allow = (rule: string): RbacDecision => ({ kind: "allow", rule });
const deny = (reason: string): RbacDecision => ({ kind: "deny", reason });

/** Decides `request` by role alone. Pure. */
export function evaluateRbac(request: RbacRequest): RbacDecision {
  const { principal, action, target } = request;
  const role = parseRole(principal.role);
  if (role.kind === "platform-admin") return allow("platform-admin");
  if (isEmergency(action)) {
    if (role.kind === "service-ai") {
      return deny("the AI service role may never start or end emergency mode");
    }
    if (principal.principalType !== "human") return deny("emergency mode needs a human principal");
  }
  switch (role.kind) {
    case "service-agent":
      if (isRead(action)) return allow("service-agent");
      if (action === "record" && target.scope.kind === "node") return allow("service-agent");
      // The agent's own enforcement: rolling a node back when its commit
      // window expires (an operator's rollback is authorized as the operator).
      if (action === "rollback" && target.scope.kind === "node") return allow("service-agent");
      return deny("agents may only record node-scoped events and roll their node back");
    case "service-ai":
      if (isRead(action)) return allow("service-ai");
      if (action === "exec" && request.policy.aiExecAllowed) return allow("service-ai:ai_exec");
      if (action === "exec") {
        return deny(`the AI service role may not exec on vCluster ${target.vcluster ?? "(none)"}`);
      }
      return deny("the AI service role is read-only");
    case "custom":
      return customRole(request);
    default:
      return scopedRole(request, role.kind, role.vcluster);
  }
}

function scopedRole(
  request: RbacRequest,
  kind: "ops" | "viewer" | "regulated",
  vcluster: string,
): RbacDecision {
  const { principal, action, target } = request;
  if (kind === "viewer" && !isRead(action)) return deny(`role ${principal.role} is read-only`);
  if (target.vcluster !== vcluster) {
    return deny(
      isRead(action)
        ? `role ${principal.role} may only read vCluster ${vcluster}`
        : `role ${principal.role} may only write inside vCluster ${vcluster}`,
    );
  }
  if (isRead(action)) return allow(kind);
  if (action === "policy_update") return deny("policy updates need pact-platform-admin");
  if (action === "enroll") return deny("enrollment and node assignment need pact-platform-admin");
  switch (kind) {
    case "viewer":
      return deny(`role ${principal.role} is read-only`);
    case "regulated":
      if (isEmergency(action)) {
        return deny(`role ${principal.role} may not use emergency mode`);
      }
      return allow("regulated");
    case "ops":
      return isWrite(action) || isEmergency(action) || action === "approve" ||
          action === "record"
        ? allow("ops")
        : deny(`role ${principal.role} may not ${action}`);
  }
}

/**
 * A role pact does not know: the vCluster's role bindings may grant it
 * actions (`*` grants all but emergency, which needs an explicit binding);
 * otherwise only OPA can allow it.
 */
function customRole(request: RbacRequest): RbacDecision {
  const { principal, action, policy } = request;
  for (const binding of policy.roleBindings) {
    if (binding.role !== principal.role) continue;
    const covers = binding.principals.length === 0 ||
      binding.principals.includes("*") || binding.principals.includes(principal.principal);
    if (!covers) continue;
    if (binding.allowedActions.includes(action)) return allow(`binding:${binding.role}`);
    if (binding.allowedActions.includes("*") && !isEmergency(action)) {
      return allow(`binding:${binding.role}`);
    }
  }
  const unknown = `unknown role ${JSON.stringify(principal.role)}`;
  return request.opaConfigured ? { kind: "defer", reason: unknown } : deny(unknown);
}
