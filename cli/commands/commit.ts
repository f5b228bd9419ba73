import { Command, Option } from "@commander-js/extra-typings";
import type { CliContext } from "../context.ts";
import { commitNode, type CommitResult } from "../ops/commit.ts";
import { awaitApproval } from "./approval_wait.ts";
import { nonNegativeInteger, positiveInteger } from "./parse.ts";

/** `pact commit -m MSG --node X [--ttl S] [--no-wait]`. */
export function commitCommand(ctx: CliContext) {
  return new Command("commit")
    .description("Commit a node's current state as its declared state (a node-level delta)")
    .requiredOption("-m, --message <text>", "why the change was made (recorded in the journal)")
    .requiredOption("--node <id>", "the node whose changes you accept")
    .addOption(
      new Option("--ttl <seconds>", "let the delta expire after this long (900-864000 s)")
        .argParser(positiveInteger),
    )
    .addOption(
      new Option(
        "--if-version <seq>",
        "fail with exit code 4 unless the node is still at this version",
      )
        .argParser(nonNegativeInteger),
    )
    .option(
      "--no-wait",
      "when two-person approval is required, print the pending id and return at once",
    )
    .addHelpText(
      "after",
      "\nOn a vCluster whose policy sets two_person_approval, the commit waits for\n" +
        "another admin (pact approve <id>); Ctrl-C leaves it pending in the background.\n" +
        '\nExamples:\n  pact commit -m "hugepages for training" --node node042\n' +
        '  pact commit -m "temporary debug sysctl" --node node042 --ttl 3600\n',
    )
    .action(async (options) => {
      const journal = await ctx.journal();
      const result = await commitNode(journal, {
        node: options.node,
        message: options.message,
        ttlSeconds: options.ttl,
        ifVersion: options.ifVersion,
      });
      if (result.approval === null) {
        await ctx.print(result, renderCommit);
        return;
      }
      const view = await awaitApproval(ctx, journal, result.approval, options.wait);
      if (view?.status !== "approved") {
        if ((await ctx.settings()).output === "json") await ctx.print(result, renderCommit);
        return;
      }
      const done: CommitResult = { ...result, sequence: view.executed_sequence ?? result.sequence };
      await ctx.print(
        { ...done, approved_by: view.approver },
        () => `Approved by ${view.approver}. ${renderCommit(done)}`,
      );
    });
}

function renderCommit(result: CommitResult): string {
  return `Committed (seq:${result.sequence}) on node: ${result.node}\n`;
}
