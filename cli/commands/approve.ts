import { Command } from "@commander-js/extra-typings";
import type { CliContext } from "../context.ts";
import {
  type ApprovalView,
  decideApproval,
  type DecisionView,
  listApprovals,
} from "../ops/approve.ts";
import { renderTable } from "../output/table.ts";

const HELP = `
Two-person approval: on a vCluster whose policy sets two_person_approval,
state-changing operations (commit, rollback, exec, service start/stop/restart,
emergency start) wait as pending requests until a second person decides.
The approver must be another human with pact-platform-admin, or
pact-ops-<vcluster> / pact-regulated-<vcluster> of that vCluster. A request
nobody decides expires after the vCluster's approval_timeout_seconds
(default 30 min) and must be submitted again.

Examples:
  pact approve list                      # pending requests, oldest first
  pact approve list --all --json         # every request, with its outcome
  pact approve ap-7f3a9c21               # approve: the journal runs the operation
  pact approve deny ap-7f3a9c21 -m "not during the maintenance freeze"
`;

/** `pact approve list | <id> | accept <id> | deny <id> -m REASON`. */
export function approveCommand(ctx: CliContext) {
  const approve = new Command("approve")
    .description("Review two-person approval requests: list, approve or deny them")
    .argument("[id]", "approve this pending request (see pact approve list)")
    .addHelpText("after", HELP)
    .action(async (id) => {
      if (id === undefined) {
        approve.help({ error: true });
      }
      await approveOne(ctx, id!);
    });
  approve.addCommand(
    new Command("list")
      .description("Show pending approval requests (--all: decided and expired ones too)")
      .option("--all", "include approved, denied and expired requests")
      .action(async (options) => {
        const settings = await ctx.settings();
        const list = await listApprovals(await ctx.journal(), {
          vcluster: settings.vcluster,
          all: options.all ?? false,
        });
        await ctx.print(list, renderList);
      }),
  );
  approve.addCommand(
    new Command("accept")
      .description("Approve a pending request (same as pact approve <id>)")
      .argument("<id>", "the approval id")
      .action((id) => approveOne(ctx, id)),
  );
  approve.addCommand(
    new Command("deny")
      .description("Deny a pending request; the operation never runs")
      .argument("<id>", "the approval id")
      .requiredOption("-m, --message <reason>", "why (recorded in the journal)")
      .action(async (id, options) => {
        const result = await decideApproval(await ctx.journal(), id, "rejected", options.message);
        await ctx.print(
          result,
          (r) => `Denied ${r.approval.approval_id}: ${r.approval.reason}\n`,
        );
      }),
  );
  for (const sub of approve.commands) {
    sub.configureOutput({ writeOut: (t) => ctx.io.out(t), writeErr: (t) => ctx.io.err(t) })
      .showHelpAfterError(`(run pact approve ${sub.name()} --help for usage)`)
      .exitOverride();
  }
  return approve;
}

async function approveOne(ctx: CliContext, id: string): Promise<void> {
  const result = await decideApproval(await ctx.journal(), id, "approved", "");
  await ctx.print(result, renderApproved);
}

function renderApproved(result: DecisionView): string {
  const a = result.approval;
  const ran = result.executed_sequence === null
    ? "the requester's client runs it"
    : `${a.action} applied on ${a.scope} (seq:${result.executed_sequence})`;
  return `Approved ${a.approval_id}. ${ran}, vcluster ${a.vcluster}.\n`;
}

function renderList(list: readonly ApprovalView[]): string {
  if (list.length === 0) return "(no pending approvals)\n";
  const now = Date.now();
  const rows = list.map((a) => [
    a.approval_id,
    a.status,
    a.vcluster,
    `${a.action} ${a.scope}`,
    a.requester,
    ago(now, a.created_at),
    a.status === "pending" ? `in ${minutes(Date.parse(a.expires_at ?? "") - now)}` : "-",
    JSON.stringify(a.description),
  ]);
  return renderTable(
    ["ID", "STATUS", "VCLUSTER", "OPERATION", "REQUESTER", "AGE", "EXPIRES", "MESSAGE"],
    rows,
  );
}

function ago(now: number, iso: string | undefined): string {
  return iso === undefined ? "-" : `${minutes(now - Date.parse(iso))} ago`;
}

function minutes(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  return seconds < 120 ? `${seconds} s` : `${Math.round(seconds / 60)} min`;
}
