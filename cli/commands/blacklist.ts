import { Command } from "@commander-js/extra-typings";
import { PactError } from "../../shared/errors/mod.ts";
import type { ScopeRef } from "../../shared/domain/scope.ts";
import { checkId } from "../../shared/domain/scope.ts";
import type { CliContext } from "../context.ts";
import { type BlacklistListView, changeBlacklist, listBlacklist } from "../ops/blacklist.ts";
import { nodeDrift, vclusterOf } from "../ops/diff.ts";
import { nodeOf, TARGET_HELP, targeted, withAgent } from "./agent_target.ts";

const BLACKLIST_HELP = `
Drift detection observes everything except blacklisted paths (defaults:
/tmp/**, /var/log/**, /proc/**, /sys/**, /dev/**, /run/user/**). A
pattern ending in /** covers everything below a directory, /* one level;
any other pattern is an exact path. add and remove record the change in
the journal for one node (--node), a vCluster (--vcluster or
PACT_VCLUSTER) or everyone (--global); subscribed agents apply it at once.
list shows the journal's changes; with --node it also asks that node's
agent for its effective list (agent.toml or policy + journal).
${TARGET_HELP}
Examples:
  pact blacklist add "/var/cache/**" --vcluster ml
  pact blacklist add /etc/motd --node node042
  pact blacklist remove /etc/motd --node node042
  pact blacklist list --node node042
`;

/** `pact blacklist list|add|remove`. */
export function blacklistCommand(ctx: CliContext) {
  const blacklist = new Command("blacklist")
    .description("Manage drift detection exclusions")
    .addHelpText("after", BLACKLIST_HELP);
  for (const action of ["add", "remove"] as const) {
    blacklist.addCommand(
      new Command(action)
        .description(
          action === "add" ? "Exclude a path pattern from drift" : "Stop excluding a pattern",
        )
        .argument("<pattern>", "an absolute path, optionally ending in /* or /**")
        .option("--node <node>", "for one node")
        .option("--global", "for every node")
        .action(async (pattern, options) => {
          const scope = await scopeOf(ctx, options);
          const journal = await ctx.journal();
          const view = await changeBlacklist(journal, scope, action, pattern);
          await ctx.print(
            view,
            (v) =>
              `${
                action === "add" ? "Added" : "Removed"
              } ${v.pattern} (${v.scope}, seq:${v.sequence})\n`,
          );
        }),
    );
  }
  blacklist.addCommand(
    targeted(new Command("list"))
      .description("Show blacklist changes (and a node's effective list with --node)")
      .action(async (options) => {
        const journal = await ctx.journal();
        const node = options.node;
        const scope: ScopeRef | undefined = node !== undefined
          ? { kind: "node", id: checkId("node", node) }
          : (await ctx.settings()).vcluster
          ? { kind: "vcluster", id: (await ctx.settings()).vcluster! }
          : undefined;
        const effective = node === undefined && options.agent === undefined
          ? null
          : (await withAgent(ctx, nodeOf(ctx, node, options), options, (api) => nodeDrift(api)))
            .blacklist;
        const nodeVcluster = node === undefined ? undefined : await vclusterOf(journal, node);
        const view = await listBlacklist(journal, scope, nodeVcluster, effective);
        await ctx.print(view, renderList);
      }),
  );
  for (const sub of blacklist.commands) {
    sub.configureOutput({ writeOut: (t) => ctx.io.out(t), writeErr: (t) => ctx.io.err(t) })
      .showHelpAfterError(`(run pact blacklist ${sub.name()} --help for usage)`)
      .exitOverride();
  }
  return blacklist;
}

async function scopeOf(
  ctx: CliContext,
  options: { readonly node?: string | undefined; readonly global?: boolean | undefined },
): Promise<ScopeRef> {
  const vcluster = (await ctx.settings()).vcluster;
  if (options.node !== undefined && options.global) {
    throw new PactError("INVALID_ARGUMENT", "Pass --node or --global, not both");
  }
  if (options.node !== undefined) return { kind: "node", id: checkId("node", options.node) };
  if (options.global) return { kind: "global" };
  if (vcluster) return { kind: "vcluster", id: checkId("vcluster", vcluster) };
  throw new PactError(
    "INVALID_ARGUMENT",
    "No scope given: pass --node <node>, --vcluster <name> (or PACT_VCLUSTER), or --global",
  );
}

function renderList(view: BlacklistListView): string {
  const lines: string[] = [];
  if (view.effective !== null) {
    lines.push("Effective on the node:", ...view.effective.map((p) => `  ${p}`));
  }
  lines.push(
    view.changes.length === 0
      ? `No blacklist changes in the journal${view.scope ? ` for ${view.scope}` : ""}`
      : `Journal changes${view.scope ? ` for ${view.scope}` : ""}:`,
    ...view.changes.map((c) =>
      `  seq:${c.sequence} ${c.action} ${c.pattern} (${c.scope}${
        c.author ? `, by ${c.author}` : ""
      })`
    ),
  );
  return `${lines.join("\n")}\n`;
}
