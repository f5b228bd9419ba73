import { Command } from "@commander-js/extra-typings";
import type { CliContext } from "../context.ts";
import { fetchCapability, renderCapability } from "../ops/cap.ts";
import { nodeOf, TARGET_HELP, targeted, withAgent } from "./agent_target.ts";

const CAP_HELP = `${TARGET_HELP}
The agent detects the node's hardware at boot and every
[agent.capability] gpu_poll_interval_seconds (30 s): CPU, memory and NUMA,
GPUs and their health (NVIDIA and AMD), network interfaces, local disks and
mounts, and the supervised services. pact cap shows its latest report;
--json prints the whole report as lattice-node-agent reads it from
/run/pact/capability.json. Needs pact-platform-admin, or pact-ops-<vc> or
pact-viewer-<vc> of the node's vCluster.

Examples:
  pact cap node042
  pact cap --node node042 --json
  pact cap            (on the node itself: the local agent)
`;

/** `pact cap [node]`: the node's capability report. */
export function capCommand(ctx: CliContext) {
  return targeted(new Command("cap"))
    .description("Capability report of a node: CPU, memory, GPUs and their health, NICs, storage")
    .argument("[node]", "the node (default: --node, PACT_NODE or this host)")
    .addHelpText("after", CAP_HELP)
    .action(async (argument, options) => {
      const node = nodeOf(ctx, argument, options);
      const report = await withAgent(ctx, node, options, (api) => fetchCapability(api, node));
      await ctx.print(report, renderCapability);
    });
}
