import { Command } from "@commander-js/extra-typings";
import type { CliContext } from "../context.ts";
import { promoteNode, type PromoteView } from "../ops/promote.ts";

const PROMOTE_HELP = `
Reads the node's committed deltas from the journal (those pact diff
--committed shows) and prints them as an overlay fragment for its vCluster:
kernel -> [vcluster.<vc>.sysctl], mounts, files, services.<svc>, network,
packages. Deltas with no overlay form (GPU state, removals) are comments.
Other nodes of the vCluster that committed the same key with a different
value are reported key by key as CONFLICT comments (and on stderr).
Review the fragment, then pact apply it: the overlay then supersedes the
node deltas. --dry-run lists what would be exported instead.

Examples:
  pact promote node042 --dry-run
  pact promote node042 > /tmp/node042.toml && pact apply /tmp/node042.toml
`;

/** `pact promote <node> [--dry-run]`. */
export function promoteCommand(ctx: CliContext) {
  return new Command("promote")
    .description("Export a node's committed deltas as overlay TOML for pact apply")
    .argument("<node>", "the node whose committed deltas to export")
    .option("--dry-run", "list the deltas and sections that would be exported")
    .addHelpText("after", PROMOTE_HELP)
    .action(async (node, options) => {
      const journal = await ctx.journal();
      const settings = await ctx.settings();
      const view = await promoteNode(journal, node, Date.now(), settings.vcluster);
      for (const c of view.conflicts) {
        ctx.io.err(
          `pact: conflict on ${c.dimension} ${c.key}: ${c.other_node} committed ${c.other_value} (seq:${c.other_sequence})\n`,
        );
      }
      await ctx.print(view, options.dryRun ? renderDryRun : (v) => v.toml);
    });
}

function renderDryRun(view: PromoteView): string {
  const lines = [
    `Would export ${view.items.length} delta${
      view.items.length === 1 ? "" : "s"
    } from ${view.node} to vcluster ${view.vcluster}${
      view.sections.length ? ` (sections: ${view.sections.join(", ")})` : ""
    }`,
    ...view.items.map((i) => `  ${i.dimension} ${i.key}: ${i.value} (seq:${i.sequence})`),
    ...view.unmapped.map((i) =>
      `  not mappable: ${i.dimension} ${i.key} ${i.action} (seq:${i.sequence})`
    ),
    ...view.conflicts.map((c) =>
      `  conflict: ${c.dimension} ${c.key} = ${c.value} here, ${c.other_value} on ${c.other_node}`
    ),
    "",
    view.toml,
  ];
  return `${lines.join("\n")}`;
}
