import { Command } from "@commander-js/extra-typings";
import { PactError } from "../../shared/errors/mod.ts";
import type { CliContext } from "../context.ts";
import { nodeOf, TARGET_HELP, targeted, withAgent } from "./agent_target.ts";

const EXTEND_HELP = `${TARGET_HELP}
Pushes the node's open commit window out by [mins] minutes (default 15,
a whole number > 0); an expired window reopens for that long. Needs
pact-platform-admin or pact-ops-<vcluster>. Not while emergency mode is
active (its own window applies).

Examples:
  pact extend --node node042
  pact extend 30 --node node042
`;

/** `pact extend [mins]`. */
export function extendCommand(ctx: CliContext) {
  return targeted(new Command("extend"))
    .description("Extend a node's commit window (default 15 minutes)")
    .argument("[mins]", "minutes to add (default 15)")
    .addHelpText("after", EXTEND_HELP)
    .action(async (mins, options) => {
      const minutes = minutesOf(mins);
      const node = nodeOf(ctx, undefined, options);
      const view = await withAgent(ctx, node, options, async (api) => {
        const response = await api.extendCommitWindow(minutes);
        return { node, minutes, seconds_remaining: response.secondsRemaining };
      });
      await ctx.print(
        view,
        (v) =>
          `Commit window on ${v.node} extended by ${v.minutes} min: ${v.seconds_remaining} s left\n`,
      );
    });
}

function minutesOf(text: string | undefined): number {
  if (text === undefined) return 15;
  const minutes = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(minutes) || minutes <= 0 || minutes > 14_400) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Invalid minutes ${JSON.stringify(text)}: expected a whole number from 1 to 14400`,
    );
  }
  return minutes;
}
