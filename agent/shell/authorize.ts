/**
 * Who may use the service RPCs of the agent's shell server (reference
 * §2.13, §2.11): the platform admin anywhere; `pact-ops-<vc>` of the
 * node's vCluster for everything; `pact-viewer-<vc>` of that vCluster only
 * to read (status, logs). Everyone else is refused.
 */
import type { Principal } from "../../shared/auth/principal.ts";
import { parseRole } from "../../shared/domain/roles.ts";
import { PactError } from "../../shared/errors/mod.ts";

/** What a call does: `read` (status, logs) or `control` (start, stop, restart). */
export type ServiceAccess = "read" | "control";

/** The roles of a principal, most privileged first. */
function rolesOf(principal: Principal): readonly string[] {
  return principal.roles ?? [principal.role];
}

/** True when one of the principal's roles allows `access` on a node of `vcluster`. */
export function mayAccess(
  principal: Principal,
  vcluster: string | undefined,
  access: ServiceAccess,
): boolean {
  return rolesOf(principal).some((text) => {
    const role = parseRole(text);
    switch (role.kind) {
      case "platform-admin":
        return true;
      case "ops":
        return vcluster !== undefined && role.vcluster === vcluster;
      case "viewer":
        return access === "read" && vcluster !== undefined && role.vcluster === vcluster;
      default:
        return false;
    }
  });
}

/** Throws PERMISSION_DENIED unless the principal may `access` services of node `nodeId`. */
export function requireAccess(
  principal: Principal,
  node: { readonly nodeId: string; readonly vcluster: string | undefined },
  access: ServiceAccess,
  what: string,
): void {
  if (mayAccess(principal, node.vcluster, access)) return;
  const scope = node.vcluster === undefined
    ? "the node has no vCluster, so only pact-platform-admin may"
    : access === "control"
    ? `needs pact-platform-admin or pact-ops-${node.vcluster}`
    : `needs pact-platform-admin, pact-ops-${node.vcluster} or pact-viewer-${node.vcluster}`;
  throw new PactError(
    "PERMISSION_DENIED",
    `${what} on node ${node.nodeId} refused for ${principal.principal} (role ${principal.role}): ${scope}`,
  );
}
