/**
 * Who may use the agent's configuration commands (reference §2.5, §2.6):
 * reading drift (`pact diff`) as for service status; rollback and extend
 * need pact-platform-admin or pact-ops-<vc>; emergency needs one of those
 * two roles held explicitly by a human: never pact-service-ai or any agent
 * principal, never the regulated role, and never a custom role, whatever
 * the vCluster's role bindings grant with `*` (F20).
 */
import type { Principal } from "../../../shared/auth/principal.ts";
import { parseRole } from "../../../shared/domain/roles.ts";
import { PactError } from "../../../shared/errors/mod.ts";
import { requireAccess } from "../authorize.ts";

/** The node a call acts on. */
export interface NodeRef {
  readonly nodeId: string;
  readonly vcluster: string | undefined;
}

/** Throws PERMISSION_DENIED unless `principal` may read the node's drift. */
export function requireRead(principal: Principal, node: NodeRef, what: string): void {
  requireAccess(principal, node, "read", what);
}

/** Throws PERMISSION_DENIED unless `principal` may roll back or extend on the node. */
export function requireControl(principal: Principal, node: NodeRef, what: string): void {
  requireAccess(principal, node, "control", what);
}

/** Throws PERMISSION_DENIED unless `principal` may start or end emergency mode on the node. */
export function requireEmergency(principal: Principal, node: NodeRef, what: string): void {
  const roles = principal.roles ?? [principal.role];
  const refuse = (why: string) =>
    new PactError(
      "PERMISSION_DENIED",
      `${what} on node ${node.nodeId} refused for ${principal.principal} (role ${principal.role}): ${why}`,
    );
  if (roles.some((role) => parseRole(role).kind === "service-ai")) {
    throw refuse("the AI service role may never start or end emergency mode");
  }
  if (principal.principalType !== "human") {
    throw refuse("emergency mode needs a human principal");
  }
  const allowed = roles.some((text) => {
    const role = parseRole(text);
    return role.kind === "platform-admin" ||
      (role.kind === "ops" && node.vcluster !== undefined && role.vcluster === node.vcluster);
  });
  if (allowed) return;
  if (roles.some((role) => parseRole(role).kind === "regulated")) {
    throw refuse("the regulated role may not use emergency mode");
  }
  throw refuse(
    node.vcluster === undefined
      ? "the node has no vCluster, so only pact-platform-admin may"
      : `needs an explicit pact-platform-admin or pact-ops-${node.vcluster} role`,
  );
}
