import { Command, Option } from "@commander-js/extra-typings";
import type { CliContext } from "../context.ts";
import {
  agentUnreachable,
  commitNode,
  type CommitResult,
  commitWithoutAgent,
} from "../ops/commit.ts";
import { awaitApproval } from "./approval_wait.ts";
import { nodeOf, TARGET_HELP, targeted, withAgent } from "./agent_target.ts";
import { nonNegativeInteger, positiveInteger } from "./parse.ts";

const COMMIT_HELP = `${TARGET_HELP}
The node's agent records a Commit entry in the journal carrying the node's
current drift as a state delta (sysctl values, file hashes, mounts...),
written with your token, and treats those keys as declared from then on:
the drift resets and the commit window closes. The delta survives reboots
(it is part of the node's boot configuration) until it is rolled back
(pact rollback <seq>) or promoted into the vCluster overlay (pact promote,
pact apply). See it with pact diff --committed <node>.

Needs pact-platform-admin or pact-ops-<vcluster>. On a vCluster whose
policy sets two_person_approval, the commit waits for another admin (pact
approve <id>); Ctrl-C leaves it pending in the background. With the
journal unreachable nothing is recorded (exit 5). When the agent cannot be
reached, pact records the Commit in the journal without a delta and warns.

Examples:
  pact commit -m "hugepages for training"
  pact commit -m "hugepages for training" --node node042
  pact commit -m "temporary debug sysctl" --node node042 --ttl 3600
`;

/** `pact commit -m MSG [--node X] [--ttl S] [--no-wait]`. */
export function commitCommand(ctx: CliContext) {
  return targeted(new Command("commit"))
    .description("Commit a node's current state as its declared state (a node-level delta)")
    .requiredOption("-m, --message <text>", "why the change was made (recorded in the journal)")
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
    .addHelpText("after", COMMIT_HELP)
    .action(async (options) => {
      const node = nodeOf(ctx, undefined, options);
      const journal = await ctx.journal();
      const request = {
        node,
        message: options.message,
        ttlSeconds: options.ttl,
        ifVersion: options.ifVersion,
      };
      let unreachable: string | undefined;
      const result = await withAgent(ctx, node, options, async (api) => {
        try {
          return await commitNode(api, journal, request);
        } catch (err) {
          if (!agentUnreachable(err)) throw err;
          unreachable = (err as Error).message;
          return await commitWithoutAgent(journal, request);
        }
      });
      if (unreachable !== undefined) {
        ctx.io.err(
          `pact: warning: ${unreachable}: recorded a Commit without a state delta; ` +
            `the agent accepts all its drift when it next hears the journal\n`,
        );
      }
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
  const keys = result.items.map((i) =>
    `  ${i.dimension}: ${i.key}${
      i.change === "removed"
        ? " removed"
        : i.dimension === "kernel"
        ? ` = ${i.value}`
        : ` ${i.value}`
    }\n`
  );
  return `Committed (seq:${result.sequence}) on node: ${result.node}\n${keys.join("")}`;
}
