import { Command } from "@commander-js/extra-typings";
import { PactError } from "../../shared/errors/mod.ts";
import type { EmergencyResponse } from "../../shared/proto/gen/pact/shell/shell.ts";
import type { CliContext } from "../context.ts";
import { nodeOf, TARGET_HELP, targeted, withAgent } from "./agent_target.ts";

const EMERGENCY_HELP = `${TARGET_HELP}
Emergency mode replaces the node's commit window with the emergency window
(default 4 h) and suspends automatic rollback. It does not widen the exec
or shell whitelist, bypass authorization or suppress the audit trail.
Only humans with pact-platform-admin or pact-ops-<vcluster> may start or
end it (never pact-service-ai, the regulated role or custom roles); a
vCluster policy with emergency_allowed = false refuses it (exit 3).

End it with a commit of the drift (default) or --rollback. Only the admin
who started it may end it without --force.

Examples:
  pact emergency start -r "GPU ECC storm, draining by hand" --node node042
  pact emergency end --node node042
  pact emergency end --force --rollback --node node042
`;

interface EmergencyView {
  readonly node: string;
  readonly action: string;
  readonly active: boolean;
  readonly admin: string | null;
  readonly reason: string | null;
  readonly expires_at: string | null;
  readonly journal_sequence: number | null;
  readonly resolution: string | null;
}

/** `pact emergency start|end`. */
export function emergencyCommand(ctx: CliContext) {
  const emergency = new Command("emergency")
    .description("Enter or leave emergency mode on a node")
    .addHelpText("after", EMERGENCY_HELP);
  emergency.addCommand(
    targeted(new Command("start"))
      .description("Enter emergency mode (a reason is required)")
      .requiredOption("-r, --reason <text>", "why (recorded in the journal)")
      .action(async (options) => {
        if (options.reason.trim() === "") {
          throw new PactError("INVALID_ARGUMENT", "Emergency mode needs a reason: pass -r TEXT");
        }
        const node = nodeOf(ctx, undefined, options);
        const view = await withAgent(ctx, node, options, async (api) =>
          viewOf(
            node,
            "start",
            await api.emergency({
              action: "start",
              reason: options.reason,
              force: false,
              resolution: "",
            }),
            null,
          ));
        await ctx.print(
          view,
          (v) =>
            `Emergency mode started on ${v.node} by ${v.admin} until ${v.expires_at}${
              v.journal_sequence ? ` (seq:${v.journal_sequence})` : ""
            }\n`,
        );
      }),
  );
  emergency.addCommand(
    targeted(new Command("end"))
      .description("Leave emergency mode: commit the drift (default) or --rollback")
      .option("--force", "end an emergency another admin started")
      .option("--rollback", "roll the drift back instead of committing it")
      .action(async (options) => {
        const node = nodeOf(ctx, undefined, options);
        const resolution = options.rollback ? "rollback" : "commit";
        const view = await withAgent(ctx, node, options, async (api) =>
          viewOf(
            node,
            "end",
            await api.emergency({
              action: "end",
              reason: "",
              force: options.force === true,
              resolution,
            }),
            resolution,
          ));
        await ctx.print(
          view,
          (v) =>
            `Emergency mode ended on ${v.node} (drift: ${v.resolution})${
              v.journal_sequence ? ` (seq:${v.journal_sequence})` : ""
            }\n`,
        );
      }),
  );
  for (const sub of emergency.commands) {
    sub.configureOutput({ writeOut: (t) => ctx.io.out(t), writeErr: (t) => ctx.io.err(t) })
      .showHelpAfterError(`(run pact emergency ${sub.name()} --help for usage)`)
      .exitOverride();
  }
  return emergency;
}

function viewOf(
  node: string,
  action: string,
  response: EmergencyResponse,
  resolution: string | null,
): EmergencyView {
  const e = response.emergency;
  return {
    node,
    action,
    active: e?.active ?? false,
    admin: e?.active ? e.admin : null,
    reason: e?.active ? e.reason : null,
    expires_at: e?.active && e.expiresAtMs ? new Date(e.expiresAtMs).toISOString() : null,
    journal_sequence: response.journalSequence || null,
    resolution,
  };
}
