import type { CliContext } from "../context.ts";
import { type ApprovalView, outcomeError, waitForDecision } from "../ops/approve.ts";
import type { PendingApprovalView } from "../ops/commit.ts";
import type { JournalApi } from "../ops/journal_port.ts";

/**
 * What a requester sees when a write needs two-person approval: the
 * pending id, then (unless `wait` is false) the decision. Ctrl-C leaves the
 * request pending and says how to follow it. Throws POLICY_DENIED when the
 * request was denied or expired. Returns the last state seen.
 */
export async function awaitApproval(
  ctx: CliContext,
  journal: JournalApi,
  pending: PendingApprovalView,
  wait: boolean,
): Promise<ApprovalView | undefined> {
  const json = (await ctx.settings()).output === "json";
  const say = (text: string) => json ? ctx.io.err(text) : ctx.io.out(text);
  say(
    `Approval required (two-person policy on vcluster: ${pending.vcluster})\n` +
      `Pending approval: ${pending.approval_id} (expires ${expiresIn(pending.expires_at)})\n`,
  );
  if (!wait) {
    say(`Not waiting: follow it with pact approve list --all\n`);
    return undefined;
  }
  say("Waiting for approval... (Ctrl-C to background)\n");
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  let view: ApprovalView;
  try {
    view = await waitForDecision(journal, pending.approval_id, controller.signal);
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
  if (view.status === "pending") {
    say(
      `\nLeft in the background: ${pending.approval_id} stays pending until another admin ` +
        `decides it or it expires (${view.expires_at}).\nCheck it with: pact approve list --all\n`,
    );
    return view;
  }
  const error = outcomeError(view);
  if (error) throw error;
  return view;
}

function expiresIn(iso: string | undefined): string {
  if (iso === undefined) return "at the vCluster's approval timeout";
  const seconds = Math.max(0, Math.round((Date.parse(iso) - Date.now()) / 1000));
  return seconds < 120 ? `in ${seconds} s` : `in ${Math.round(seconds / 60)} min`;
}
