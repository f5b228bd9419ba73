import { Command } from "@commander-js/extra-typings";
import type { CliContext } from "../context.ts";
import {
  ageText,
  committedDeltas,
  type CommittedView,
  type DiffItem,
  type DriftView,
  nodeDrift,
} from "../ops/diff.ts";
import { nodeOf, TARGET_HELP, targeted, withAgent } from "./agent_target.ts";

const DIFF_HELP = `${TARGET_HELP}
Without --committed the agent compares the node's declared state (overlay +
node delta) with what the node has now, and shows the drift it holds, the
drift vector, the commit window and the enforcement mode. With --committed
pact reads only the journal: the node's committed changes that are not in
its vCluster's overlay yet (promote them with pact promote).

Examples:
  pact diff node042
  pact diff --node node042 --json
  pact diff --committed node042
`;

/** `pact diff [node] [--committed]`. */
export function diffCommand(ctx: CliContext) {
  return targeted(new Command("diff"))
    .description("Declared vs actual state of a node; --committed: its unpromoted committed deltas")
    .argument("[node]", "the node (default: --node, PACT_NODE or this host)")
    .option("--committed", "show the node's committed deltas not yet in the overlay (journal only)")
    .addHelpText("after", DIFF_HELP)
    .action(async (argument, options) => {
      const node = nodeOf(ctx, argument, options);
      if (options.committed) {
        const journal = await ctx.journal();
        const settings = await ctx.settings();
        const view = await committedDeltas(journal, node, Date.now(), settings.vcluster);
        await ctx.print(view, renderCommitted);
        return;
      }
      const view = await withAgent(ctx, node, options, (api) => nodeDrift(api));
      await ctx.print(view, renderDrift);
    });
}

function renderDrift(view: DriftView): string {
  const lines = [
    `Node ${view.node}${
      view.vcluster ? ` (vcluster ${view.vcluster})` : ""
    }: mode ${view.enforcement_mode}, drift magnitude ${view.magnitude}`,
  ];
  const item = (i: DiffItem) =>
    `  ${i.dimension} ${i.key}: ${
      i.declared !== null || i.actual !== null
        ? `declared=${i.declared ?? "-"} actual=${i.actual ?? "-"}`
        : i.detail
    }${i.declared !== null || i.actual !== null ? `  (${i.detail})` : ""}`;
  lines.push(
    view.declared_diff.length === 0 ? "Declared vs actual: no differences" : "Declared vs actual:",
    ...view.declared_diff.map(item),
  );
  lines.push(
    view.drift.length === 0 ? "Drift: none" : `Drift (${view.drift.length}):`,
    ...view.drift.map((i) => `${item(i)} [${i.source}]`),
  );
  const nonZero = Object.entries(view.vector).filter(([, v]) => v > 0);
  if (nonZero.length > 0) {
    lines.push(`Vector: ${nonZero.map(([d, v]) => `${d}=${v}`).join(" ")}`);
  }
  const w = view.window;
  lines.push(
    w.state === "open"
      ? `Commit window: open, ${w.seconds_left} s left (deadline ${w.deadline}); pact commit, pact rollback or pact extend`
      : w.state === "expired"
      ? `Commit window: expired${
        w.blocked_by.length ? ` (rollback blocked by ${w.blocked_by.join(", ")})` : ""
      }`
      : "Commit window: none",
  );
  if (view.emergency.active) {
    lines.push(
      `Emergency: active since ${view.emergency.started_at} by ${view.emergency.admin} (${
        JSON.stringify(view.emergency.reason)
      })${view.emergency.stale ? " STALE: force-end required" : ""}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

function renderCommitted(view: CommittedView): string {
  if (view.items.length === 0) return "(no committed node deltas)\n";
  return view.items.map((i) =>
    `${i.dimension}: ${i.key}${
      i.action === "remove"
        ? " removed"
        : i.dimension === "kernel"
        ? ` = ${i.value}`
        : ` ${i.value}`
    }  (committed seq:${i.sequence}, ${ageText(i.age_seconds)})\n`
  ).join("");
}
