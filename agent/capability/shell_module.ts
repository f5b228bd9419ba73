/**
 * GetCapability on the agent's shell server (`pact cap`): the node's latest
 * capability report as JSON. Reading it needs the same access as reading
 * service status: pact-platform-admin, or pact-ops-/pact-viewer- of the
 * node's vCluster.
 */
import type { GetCapabilityResponse } from "../../shared/proto/gen/pact/shell/shell.ts";
import { requireAccess } from "../shell/authorize.ts";
import type { ShellModule } from "../shell/start.ts";

/** The module SHELL_MODULES lists. */
export const capabilityModule: ShellModule = ({ node }) => {
  const { config, capability } = node.boot;
  const target = { nodeId: config.nodeId, vcluster: config.vcluster };
  return (kit) => ({
    getCapability: kit.unary<unknown, GetCapabilityResponse>(
      "GetCapability",
      async (_request, principal) => {
        requireAccess(principal, target, "read", "GetCapability");
        return { reportJson: JSON.stringify(await capability.current()) };
      },
    ),
  });
};
