/**
 * Who may use the RPCs of the agent's shell server (reference §2.8, §2.11,
 * §2.13), decided on the agent from the caller's roles and the node's
 * current vCluster policy (agent/policy: live from the journal, cached for
 * partitions):
 *
 * - `pact-platform-admin`: everything, on every node;
 * - `pact-ops-<vc>` of the node's vCluster: everything;
 * - `pact-viewer-<vc>`: reads only (status, logs, read-only exec);
 * - `pact-regulated-<vc>`: reads; control where the caller passes the
 *   policy (services, exec) and it does not set `two_person_approval`,
 *   else refused (POLICY_DENIED, CLI exit 3, when the policy needs a
 *   second person's approval, which the agent cannot collect);
 * - `pact-service-ai`: service status and logs; exec of read-only
 *   commands only when the policy sets `ai_exec_allowed`; never control;
 * - any other role: what the policy's `role_bindings` grant it (a binding
 *   of that role covering the principal, with the action or `*`).
 *
 * Everyone else is refused with PERMISSION_DENIED (CLI exit 2), in one line
 * that names the role required.
 */
import type { Principal } from "../../shared/auth/principal.ts";
import { parseRole } from "../../shared/domain/roles.ts";
import { PactError } from "../../shared/errors/mod.ts";
import type { VClusterPolicy } from "../../shared/proto/gen/pact/config/config.ts";

/** What a call does: `read` (status, logs) or `control` (start, stop, restart). */
export type ServiceAccess = "read" | "control";

/** A node as the decisions see it. */
export interface NodeScope {
  readonly nodeId: string;
  readonly vcluster: string | undefined;
  /** The node's vCluster policy now (read on every decision); absent: built-in roles only. */
  readonly policy?: (() => VClusterPolicy | undefined) | undefined;
}

/** What a decision may consult besides the roles. */
export interface AccessOptions {
  /** The node's vCluster policy (role bindings, ai_exec_allowed, two_person_approval). */
  readonly policy?: VClusterPolicy | undefined;
  /**
   * The action in the policy's vocabulary (`status`, `log`,
   * `service_restart`...), matched against role bindings. Without one, a
   * read matches bindings of `status` and a control action only `*`.
   */
  readonly action?: string | undefined;
}

/** The verdict of one access question. */
export type AccessVerdict =
  | { readonly allowed: true; readonly rule: string }
  | {
    readonly allowed: false;
    readonly code: "PERMISSION_DENIED" | "POLICY_DENIED";
    readonly reason: string;
  };

const READ_ACTIONS: readonly string[] = ["status", "log", "diff", "watch", "cap"];

/** The roles of a principal, most privileged first. */
function rolesOf(principal: Principal): readonly string[] {
  return principal.roles ?? [principal.role];
}

/** Whether one of the principal's roles allows `access` on a node of `vcluster`, and why. */
export function decideAccess(
  principal: Principal,
  vcluster: string | undefined,
  access: ServiceAccess,
  options: AccessOptions = {},
): AccessVerdict {
  let policyRefusal: string | undefined;
  for (const text of rolesOf(principal)) {
    const verdict = roleVerdict(principal, text, vcluster, access, options);
    if (verdict === true) return { allowed: true, rule: text };
    if (typeof verdict === "string") policyRefusal ??= verdict;
  }
  if (policyRefusal !== undefined) {
    return { allowed: false, code: "POLICY_DENIED", reason: policyRefusal };
  }
  return { allowed: false, code: "PERMISSION_DENIED", reason: needs(vcluster, access, options) };
}

/** True when one of the principal's roles allows `access` on a node of `vcluster`. */
export function mayAccess(
  principal: Principal,
  vcluster: string | undefined,
  access: ServiceAccess,
  options: AccessOptions = {},
): boolean {
  return decideAccess(principal, vcluster, access, options).allowed;
}

/**
 * Throws PERMISSION_DENIED (or POLICY_DENIED) unless the principal may
 * `access` node `node`; `what` starts the message, `action` names the
 * action for the policy's role bindings.
 */
export function requireAccess(
  principal: Principal,
  node: NodeScope,
  access: ServiceAccess,
  what: string,
  action?: string,
): void {
  const verdict = decideAccess(principal, node.vcluster, access, {
    policy: node.policy?.(),
    action,
  });
  if (verdict.allowed) return;
  throw new PactError(
    verdict.code,
    `${what} on node ${node.nodeId} refused for ${principal.principal} (role ${principal.role}): ${verdict.reason}`,
  );
}

/** true: allowed; a string: refused by the policy (why); false: the role does not cover it. */
function roleVerdict(
  principal: Principal,
  text: string,
  vcluster: string | undefined,
  access: ServiceAccess,
  options: AccessOptions,
): boolean | string {
  const role = parseRole(text);
  const { policy, action } = options;
  switch (role.kind) {
    case "platform-admin":
      return true;
    case "ops":
      return vcluster !== undefined && role.vcluster === vcluster;
    case "viewer":
      return access === "read" && vcluster !== undefined && role.vcluster === vcluster;
    case "regulated":
      if (vcluster === undefined || role.vcluster !== vcluster) return false;
      if (access === "read") return true;
      // Control only where the caller consulted the policy and it needs no second person
      // (shell sessions, diag and node-config commands do not pass it: refused there).
      if (policy === undefined) return false;
      if (!policy.twoPersonApproval) return true;
      return `vCluster ${vcluster} requires two-person approval (policy two_person_approval), which the agent cannot collect: ask pact-ops-${vcluster} or pact-platform-admin`;
    case "service-ai":
      if (access !== "read") return false;
      if (action !== undefined && READ_ACTIONS.includes(action)) return true;
      // A read without a named action is exec of a read-only command (or its list).
      return policy?.aiExecAllowed === true;
    case "custom":
      return vcluster !== undefined && policy !== undefined &&
        boundTo(policy, text, principal.principal, action ?? (access === "read" ? "status" : "*"));
    default:
      return false;
  }
}

/** True when a role binding of `role` covering `principal` grants `action` (or `*`). */
function boundTo(
  policy: VClusterPolicy,
  role: string,
  principal: string,
  action: string,
): boolean {
  return policy.roleBindings.some((binding) =>
    binding.role === role &&
    (binding.principals.length === 0 || binding.principals.includes("*") ||
      binding.principals.includes(principal)) &&
    (binding.allowedActions.includes("*") || binding.allowedActions.includes(action))
  );
}

/** The roles that would have been allowed, in words. */
function needs(
  vcluster: string | undefined,
  access: ServiceAccess,
  options: AccessOptions,
): string {
  if (vcluster === undefined) return "the node has no vCluster, so only pact-platform-admin may";
  const bound = options.action === undefined
    ? ""
    : ` (or a role the vCluster policy binds to ${options.action})`;
  return access === "control"
    ? `needs pact-platform-admin or pact-ops-${vcluster}${bound}`
    : `needs pact-platform-admin, pact-ops-${vcluster} or pact-viewer-${vcluster}${bound}`;
}
