import { Command } from "@commander-js/extra-typings";
import type { CliContext } from "../context.ts";
import { fleetStatus, nodeStatus, type StatusReport } from "../ops/status.ts";
import type { NodeView } from "../ops/views.ts";
import { renderFields, renderTable } from "../output/table.ts";

/** `pact status [node]`. */
export function statusCommand(ctx: CliContext) {
  return new Command("status")
    .description("Show node or vCluster state: config state, drift, emergencies")
    .argument("[node]", "one node to show in detail")
    .addHelpText(
      "after",
      "\nExamples:\n  pact status                  # the journal and every node it knows\n" +
        "  pact status --vcluster ml    # nodes of one vCluster\n  pact status node042          # one node\n",
    )
    .action(async (node) => {
      const journal = await ctx.journal();
      if (node !== undefined) {
        await ctx.print(await nodeStatus(journal, node), renderNode);
      } else {
        await ctx.print(await fleetStatus(journal, (await ctx.settings()).vcluster), renderFleet);
      }
    });
}

function renderFleet(report: StatusReport): string {
  const j = report.journal;
  const drifted = report.nodes.filter((n) => n.state === "DRIFTED").length;
  const emergency = report.nodes.filter((n) => n.state === "EMERGENCY").length;
  const header = renderFields([
    [
      "Journal",
      `${j.endpoint} (${j.role}, ${j.store} store, node ${j.node_id}, pact ${j.version})`,
    ],
    ["Log", `${j.next_sequence} entries, snapshot at ${j.snapshot_sequence}`],
    ["Policy", policyLine(j)],
    [
      "Nodes",
      `${report.nodes.length}${report.vcluster ? ` in vCluster ${report.vcluster}` : ""} ` +
      `(${drifted} drifted, ${emergency} in emergency)`,
    ],
  ]);
  if (report.nodes.length === 0) return `${header}\n(no nodes have journal entries yet)\n`;
  const rows = report.nodes.map((n) => [
    n.node_id,
    n.state,
    n.vcluster ?? "-",
    `seq:${n.version}`,
    n.last_commit_sequence === null ? "-" : `seq:${n.last_commit_sequence}`,
    String(n.committed_deltas),
    n.updated_at?.replace(/\.\d{3}Z$/, "Z") ?? "-",
  ]);
  return `${header}\n${
    renderTable(["NODE", "STATE", "VCLUSTER", "VERSION", "LAST COMMIT", "DELTAS", "UPDATED"], rows)
  }`;
}

function policyLine(j: StatusReport["journal"]): string {
  const pending = `${j.pending_approvals} pending approval${j.pending_approvals === 1 ? "" : "s"}`;
  if (!j.policy.degraded) return `${j.policy.engine} (${pending})`;
  return `${j.policy.engine}, DEGRADED since ${
    j.policy.degraded_since?.replace(/\.\d{3}Z$/, "Z") ?? "?"
  }: ${j.policy.degraded_reason} (cached role bindings only; approvals denied) (${pending})`;
}

function renderNode(node: NodeView): string {
  const emergency = node.emergency
    ? `active since ${node.emergency.started_at} by ${node.emergency.admin}: ${node.emergency.reason} ` +
      `(expires ${node.emergency.expires_at})`
    : "none";
  return `Node: ${node.node_id}  State: ${node.state}  vCluster: ${
    node.vcluster ?? "(unassigned)"
  }\n` +
    renderFields([
      [
        "Version",
        `seq:${node.version} (updated ${node.updated_at?.replace(/\.\d{3}Z$/, "Z") ?? "-"})`,
      ],
      [
        "Last commit",
        node.last_commit_sequence === null ? "none" : `seq:${node.last_commit_sequence}`,
      ],
      ["Node deltas", `${node.committed_deltas} committed, not promoted`],
      ["Drift events", String(node.drift_events)],
      ["Emergency", emergency],
      ...(node.last_boot ? [["Last boot", bootLine(node.last_boot)] as const] : []),
    ]) + (node.last_boot ? bootPhases(node.last_boot) : "");
}

function bootLine(boot: NonNullable<NodeView["last_boot"]>): string {
  const failed = boot.phases.find((p) => !p.ok);
  const outcome = failed
    ? `FAILED in ${failed.name} after ${boot.total_ms} ms`
    : `ready in ${boot.total_ms} ms`;
  return `${outcome}, ${
    boot.from_cache ? "FROM CACHED CONFIG (journal unreachable)" : "config from the journal"
  }` +
    `, overlay seq:${boot.overlay_version}`;
}

function bootPhases(boot: NonNullable<NodeView["last_boot"]>): string {
  return renderTable(
    ["PHASE", "MS", "OK", "DETAIL"],
    boot.phases.map((p) => [p.name, String(p.duration_ms), p.ok ? "ok" : "FAILED", p.detail]),
  );
}
