import type { JournalApi } from "./journal_port.ts";
import { type JournalView, journalView, type NodeView, nodeView } from "./views.ts";

/** The journal summary and its nodes, optionally of one vCluster. */
export interface StatusReport {
  readonly journal: JournalView;
  readonly vcluster: string | null;
  readonly nodes: readonly NodeView[];
}

/** `pact status`: the journal and every node it knows (of `vcluster` when given). */
export async function fleetStatus(
  journal: JournalApi,
  vcluster: string | undefined,
): Promise<StatusReport> {
  const [status, list] = await Promise.all([
    journal.getJournalStatus(),
    journal.listNodeStates(vcluster ?? ""),
  ]);
  return {
    journal: journalView(status, journal.endpoint),
    vcluster: vcluster ?? null,
    nodes: list.nodes.map(nodeView),
  };
}

/** `pact status <node>`: what the journal knows about one node. */
export async function nodeStatus(journal: JournalApi, nodeId: string): Promise<NodeView> {
  return nodeView(await journal.getNodeState(nodeId));
}
