import { Command, Option } from "@commander-js/extra-typings";
import { parseScope } from "../../shared/domain/scope.ts";
import type { CliContext } from "../context.ts";
import { configLog } from "../ops/log.ts";
import type { EntryView } from "../ops/views.ts";
import { renderTable } from "../output/table.ts";
import { positiveInteger } from "./parse.ts";

/** `pact log [-n N] [--scope S]`. */
export function logCommand(ctx: CliContext) {
  return new Command("log")
    .description("Show configuration history from the journal, newest first")
    .addOption(
      new Option("-n, --count <n>", "how many entries").argParser(positiveInteger).default(20),
    )
    .option("--scope <scope>", "only entries of one scope: node:<id>, vc:<name> or global")
    .addHelpText(
      "after",
      "\nExamples:\n  pact log -n 50\n  pact log --scope node:node042\n  pact log --scope vc:ml-training --json\n",
    )
    .action(async (options) => {
      const scope = options.scope === undefined ? undefined : parseScope(options.scope);
      const entries = await configLog(await ctx.journal(), { limit: options.count, scope });
      await ctx.print(entries, renderLog);
    });
}

function renderLog(entries: EntryView[]): string {
  if (entries.length === 0) return "(no entries)\n";
  const rows = entries.map((e) => [
    String(e.sequence),
    e.timestamp?.replace(/\.\d{3}Z$/, "Z") ?? "-",
    e.type,
    e.scope,
    e.author.principal,
    e.message,
  ]);
  return renderTable(["SEQ", "TIME", "TYPE", "SCOPE", "AUTHOR", "MESSAGE"], rows);
}
