import { Command, Option } from "@commander-js/extra-typings";
import type { CliContext } from "../context.ts";
import { commitNode, type CommitResult } from "../ops/commit.ts";
import { nonNegativeInteger, positiveInteger } from "./parse.ts";

/** `pact commit -m MSG --node X [--ttl S]`. */
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
    .addHelpText(
      "after",
      '\nExamples:\n  pact commit -m "hugepages for training" --node node042\n' +
        '  pact commit -m "temporary debug sysctl" --node node042 --ttl 3600\n',
    )
    .action(async (options) => {
      const result = await commitNode(await ctx.journal(), {
        node: options.node,
        message: options.message,
        ttlSeconds: options.ttl,
        ifVersion: options.ifVersion,
      });
      await ctx.print(result, renderCommit);
    });
}

function renderCommit(result: CommitResult): string {
  return `Committed (seq:${result.sequence}) on node: ${result.node}\n`;
}
