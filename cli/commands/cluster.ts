import { Command } from "@commander-js/extra-typings";
import type { CliContext } from "../context.ts";
import { type ClusterReport, clusterStatus } from "../ops/cluster.ts";
import { renderFields, renderTable } from "../output/table.ts";

/** `pact cluster`: the journal quorum's health. */
export function clusterCommand(ctx: CliContext) {
  return new Command("cluster")
    .description("Show the journal quorum: members, leader, Raft term/index, DB size, health")
    .addHelpText(
      "after",
      "\nExit status is 0 when every member is healthy, a leader is elected and writes are\n" +
        "possible; 5 when the quorum is degraded (so scripts and monitoring can use it).\n\n" +
        "Examples:\n  pact cluster           # table of members\n" +
        "  pact cluster --json    # for monitoring\n",
    )
    .action(async () => {
      const journal = await ctx.journal();
      const report = await clusterStatus(journal);
      await ctx.print(report, renderCluster);
      if (!report.healthy) ctx.setExitCode(5);
    });
}

function renderCluster(report: ClusterReport): string {
  const header = renderFields([
    ["Journal", `${report.endpoint} (node ${report.node_id}, ${report.role})`],
    ["Store", `${report.store}${report.writable ? "" : " (NOT WRITABLE: no quorum)"}`],
    ["Health", report.healthy ? "healthy" : "DEGRADED"],
    ["Leader", report.leader ?? (report.members.length > 0 ? "NONE" : "-")],
    [
      "Raft",
      report.members.length > 0 ? `term ${report.raft_term}, index ${report.raft_index}` : "-",
    ],
    ["Log", `${report.next_sequence} entries`],
    ["Alarms", report.alarms.length > 0 ? report.alarms.join(", ") : "none"],
    [
      "Upkeep",
      `last compaction ${report.last_compaction ?? "never"}, last defrag ${
        report.last_defrag ?? "never"
      }`,
    ],
  ]);
  if (report.members.length === 0) {
    return `${header}\n(single-node journal: no quorum members)\n`;
  }
  const rows = report.members.map((m) => [
    m.id,
    m.leader ? "leader" : "follower",
    m.healthy ? "healthy" : `UNHEALTHY: ${m.error ?? "no answer"}`,
    m.peer_urls.join(",") || "-",
    m.healthy ? String(m.raft_term) : "-",
    m.healthy ? String(m.raft_index) : "-",
    m.healthy ? formatBytes(m.db_size_bytes) : "-",
    m.healthy ? formatBytes(m.db_size_in_use_bytes) : "-",
  ]);
  return `${header}\n${
    renderTable(["ID", "ROLE", "HEALTH", "PEER URL", "TERM", "INDEX", "DB SIZE", "IN USE"], rows)
  }`;
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}
