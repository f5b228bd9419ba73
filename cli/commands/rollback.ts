import { Command } from "@commander-js/extra-typings";
import { fromProtoScope } from "../../shared/domain/scope.ts";
import { PactError } from "../../shared/errors/mod.ts";
import { EntryType } from "../../shared/proto/gen/pact/config/config.ts";
import type { CliContext } from "../context.ts";
import { clientEntry } from "../ops/entry.ts";
import { nonNegativeInteger } from "./parse.ts";
import { nodeOf, TARGET_HELP, targeted, withAgent } from "./agent_target.ts";

const ROLLBACK_HELP = `${TARGET_HELP}
Without a sequence the node's agent rolls its current drift back now:
changed files get their declared (or last committed) content, sysctls their
values; the agent journals a Rollback entry naming you. If processes still
use an affected resource (open files on a mount, running processes) nothing
is changed and pact exits with code 10: stop them, commit, or enter
emergency mode.

With <seq>, pact records a Rollback entry whose parent is the committed
change seq (a node-scoped Commit): that committed delta no longer counts
(pact diff --committed, pact promote). It does not touch the running node:
run pact rollback without a sequence to revert what is there now.

Needs pact-platform-admin or pact-ops-<vcluster>.

Examples:
  pact rollback --node node042
  pact rollback 4812 -m "hugepages no longer needed"
`;

interface RollbackView {
  readonly node: string;
  readonly restored: readonly { dimension: string; key: string }[];
  readonly skipped: readonly string[];
}

/** `pact rollback [seq]`. */
export function rollbackCommand(ctx: CliContext) {
  return targeted(new Command("rollback"))
    .description("Roll a node's drift back now, or mark a committed change (seq) rolled back")
    .argument("[seq]", "the Commit entry to roll back (journal only)", nonNegativeInteger)
    .option("-m, --message <text>", "why (recorded in the Rollback entry)")
    .addHelpText("after", ROLLBACK_HELP)
    .action(async (seq, options) => {
      if (seq !== undefined) {
        const journal = await ctx.journal();
        const target = await journal.getEntry(seq);
        const scope = fromProtoScope(target.scope);
        if (target.entryType !== EntryType.COMMIT || scope?.kind !== "node") {
          throw new PactError(
            "INVALID_ARGUMENT",
            `Entry seq:${seq} is ${EntryType[target.entryType]}${
              scope ? ` on ${scope.kind}` : ""
            }, not a node's Commit: pact rollback <seq> rolls back a committed node change`,
          );
        }
        const message = options.message ?? `rollback of seq:${seq}`;
        const response = await journal.appendEntry({
          entry: { ...clientEntry(EntryType.ROLLBACK, scope, message), parent: seq },
        });
        const view = { sequence: response.sequence, parent: seq, node: scope.id };
        await ctx.print(
          view,
          (v) => `Rolled back seq:${v.parent} on ${v.node} (seq:${v.sequence})\n`,
        );
        return;
      }
      const node = nodeOf(ctx, undefined, options);
      const view: RollbackView = await withAgent(ctx, node, options, async (api) => {
        const response = await api.rollback();
        return {
          node,
          restored: response.restored.map((r) => ({ dimension: r.dimension, key: r.key })),
          skipped: response.skipped,
        };
      });
      await ctx.print(
        view,
        (v) =>
          `Rolled back ${v.restored.length} key${v.restored.length === 1 ? "" : "s"} on ${v.node}${
            v.restored.length
              ? `: ${v.restored.map((r) => `${r.dimension} ${r.key}`).join(", ")}`
              : ""
          }\n${v.skipped.map((s) => `  not restored: ${s}\n`).join("")}`,
      );
    });
}
