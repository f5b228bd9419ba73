import { Command, Option } from "@commander-js/extra-typings";
import { parseScope, type ScopeRef } from "../../shared/domain/scope.ts";
import type { CliContext } from "../context.ts";
import type { UpdateView } from "../ops/views.ts";
import { type ReconnectPolicy, watchUpdates } from "../ops/watch.ts";
import { nonNegativeInteger, positiveInteger } from "./parse.ts";

/** `pact watch [--vcluster X] [--scope S] [--from SEQ] [--count N]`. */
export function watchCommand(ctx: CliContext) {
  return new Command("watch")
    .description("Stream journal events live until Ctrl-C")
    .option("--scope <scope>", "only events of one scope: node:<id>, vc:<name> or global")
    .addOption(
      new Option("--from <seq>", "replay from this sequence first").argParser(nonNegativeInteger),
    )
    .addOption(new Option("--count <n>", "stop after this many events").argParser(positiveInteger))
    .addHelpText(
      "after",
      "\nOne line per event: [time] seq:N KIND TYPE scope by author: message.\n" +
        "With --json, one JSON object per line. If the journal goes away, watch\n" +
        "reconnects with backoff and resumes after the last event it printed.\n\nExamples:\n  pact watch\n  pact watch --vcluster ml-training\n" +
        "  pact watch --from 0 --count 10 --json\n",
    )
    .action(async (options) => {
      const settings = await ctx.settings();
      const scope: ScopeRef | undefined = options.scope !== undefined
        ? parseScope(options.scope)
        : settings.vcluster
        ? { kind: "vcluster", id: settings.vcluster }
        : undefined;
      const journal = await ctx.journal();
      const controller = new AbortController();
      const stop = () => controller.abort();
      Deno.addSignalListener("SIGINT", stop);
      Deno.addSignalListener("SIGTERM", stop);
      try {
        let seen = 0;
        const query = { scope, fromSequence: options.from };
        const reconnect: ReconnectPolicy = {
          onReconnect: (error, attempt, delayMs, resumeFrom) =>
            ctx.io.err(
              `pact: ${error.message}; reconnecting in ${delayMs / 1000} s ` +
                `(attempt ${attempt}, resuming at seq:${resumeFrom})\n`,
            ),
        };
        for await (const update of watchUpdates(journal, query, controller.signal, reconnect)) {
          ctx.io.out(
            settings.output === "json" ? `${JSON.stringify(update)}\n` : renderUpdate(update),
          );
          if (options.count !== undefined && ++seen >= options.count) break;
        }
      } finally {
        Deno.removeSignalListener("SIGINT", stop);
        Deno.removeSignalListener("SIGTERM", stop);
        controller.abort();
      }
    });
}

function renderUpdate(update: UpdateView): string {
  const time = update.timestamp?.slice(11, 19) ?? "--:--:--";
  const e = update.entry;
  if (!e) return `[${time}] seq:${update.sequence} ${update.kind}\n`;
  const message = e.message ? `: ${e.message}` : "";
  return `[${time}] seq:${e.sequence} ${update.kind} ${e.type} ${e.scope} by ${e.author.principal}${message}\n`;
}
