/**
 * `pact promote <node>`: the node's committed deltas (see diff.ts) as an
 * overlay fragment that `pact apply` accepts (reference §2.3): kernel ->
 * `[vcluster.<vc>.sysctl]` (modules -> `.modules.load`), mounts ->
 * `.mounts`, files -> `.files`, services -> `.services.<svc>`, network ->
 * `.network`, packages -> `.packages`. What has no overlay form (GPU state,
 * removals, a mount without type or source) is written as a comment with
 * the raw delta for manual handling.
 *
 * Conflicts (CR4): another node of the vCluster that committed the same
 * key with a different value is reported key by key (as comments in the
 * fragment and in the view). pact does not block or ask interactively:
 * the admin reviews the fragment before `pact apply`, which then
 * supersedes every node's delta on those keys.
 */
import { PactError } from "../../shared/errors/mod.ts";
import { committedDeltas, type CommittedItem, type CommittedView } from "./diff.ts";
import type { JournalApi } from "./journal_port.ts";

/** Another node's different value for a key being promoted. */
export interface PromoteConflict {
  readonly dimension: string;
  readonly key: string;
  readonly value: string;
  readonly other_node: string;
  readonly other_value: string;
  readonly other_sequence: number;
}

/** What `pact promote` produces. */
export interface PromoteView {
  readonly node: string;
  readonly vcluster: string;
  /** The committed deltas exported (their Commit sequences). */
  readonly sequences: readonly number[];
  /** Overlay sections the fragment fills, e.g. `sysctl`, `mounts`. */
  readonly sections: readonly string[];
  readonly items: readonly CommittedItem[];
  /** Items written as comments only. */
  readonly unmapped: readonly CommittedItem[];
  readonly conflicts: readonly PromoteConflict[];
  readonly toml: string;
}

/** Reads the node's committed deltas and renders them; checks the other nodes for conflicts. */
export async function promoteNode(
  journal: JournalApi,
  node: string,
  nowMs: number,
  vclusterHint: string | undefined,
): Promise<PromoteView> {
  const committed = await committedDeltas(journal, node, nowMs, vclusterHint);
  if (committed.vcluster === null) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Node ${committed.node} is not assigned to a vCluster in the journal: pass --vcluster <name>`,
    );
  }
  const conflicts = await findConflicts(journal, committed, nowMs);
  return renderPromote(committed, committed.vcluster, conflicts);
}

async function findConflicts(
  journal: JournalApi,
  committed: CommittedView,
  nowMs: number,
): Promise<PromoteConflict[]> {
  if (committed.items.length === 0 || committed.vcluster === null) return [];
  const others = (await journal.listNodeStates(committed.vcluster)).nodes
    .map((n) => n.nodeId)
    .filter((id) => id !== committed.node)
    .sort();
  const conflicts: PromoteConflict[] = [];
  for (const other of others) {
    const theirs = await committedDeltas(journal, other, nowMs, committed.vcluster);
    for (const mine of committed.items) {
      const same = theirs.items.find((t) => t.dimension === mine.dimension && t.key === mine.key);
      if (same === undefined || (same.value === mine.value && same.action === mine.action)) {
        continue;
      }
      conflicts.push({
        dimension: mine.dimension,
        key: mine.key,
        value: mine.value,
        other_node: other,
        other_value: same.action === "remove" ? "(removed)" : same.value,
        other_sequence: same.sequence,
      });
    }
  }
  return conflicts;
}

/** Pure: the overlay fragment for `committed` in vCluster `vcluster`. */
export function renderPromote(
  committed: CommittedView,
  vcluster: string,
  conflicts: readonly PromoteConflict[],
): PromoteView {
  const lines: string[] = [
    `# Generated overlay fragment for vcluster: ${vcluster}`,
    `# From ${committed.sequences.length} committed node delta${
      committed.sequences.length === 1 ? "" : "s"
    } on ${committed.node}${
      committed.sequences.length
        ? ` (${committed.sequences.map((s) => `seq:${s}`).join(", ")})`
        : ""
    }`,
  ];
  for (const c of conflicts) {
    lines.push(
      `# CONFLICT ${c.dimension} ${c.key}: ${committed.node} has ${c.value}, ${c.other_node} has ${c.other_value} (seq:${c.other_sequence})`,
    );
  }
  const mapped: CommittedItem[] = [];
  const unmapped: CommittedItem[] = [];
  for (const item of committed.items) (mappable(item) ? mapped : unmapped).push(item);
  const base = `vcluster.${tomlKey(vcluster)}`;
  const sections: string[] = [];
  const table = (name: string, rows: string[]) => {
    if (rows.length === 0) return;
    sections.push(name);
    lines.push("", `[${base}.${name}]`, ...rows);
  };
  const of = (dimension: string) => mapped.filter((i) => i.dimension === dimension);
  const sysctl = of("kernel").filter((i) => !i.key.startsWith("module:"));
  const modules = of("kernel").filter((i) => i.key.startsWith("module:"));
  table("sysctl", sysctl.map((i) => `${tomlKey(i.key)} = ${tomlString(i.fields["value"] ?? "")}`));
  if (modules.length > 0) {
    table("modules", [
      `load = [${modules.map((i) => tomlString(i.key.slice("module:".length))).join(", ")}]`,
    ]);
  }
  table(
    "mounts",
    of("mounts").map((i) =>
      `${tomlKey(i.key)} = ${
        inlineTable([
          ["type", i.fields["type"]],
          ["source", i.fields["source"]],
          ["options", i.fields["options"]],
        ], i.fields["read_only"] === "true" ? ["read_only = true"] : [])
      }`
    ),
  );
  table(
    "files",
    of("files").map((i) =>
      `${tomlKey(i.key)} = ${
        inlineTable([
          ["content_hash", i.fields["content_hash"]],
          ["mode", i.fields["mode"]],
          ["owner", i.fields["owner"]],
        ])
      }`
    ),
  );
  for (const service of of("services")) {
    sections.push(`services.${service.key}`);
    lines.push(
      "",
      `[${base}.services.${tomlKey(service.key)}]`,
      `# set binary and args from the node's service definition before applying`,
      `state = "running"`,
    );
  }
  table("network", of("network").map((i) => `${tomlKey(i.key)} = ${tomlString(i.value)}`));
  table("packages", of("packages").map((i) => `${tomlKey(i.key)} = ${tomlString(i.value)}`));
  if (unmapped.length > 0) {
    lines.push("", "# Not mappable to the overlay (handle manually):");
    for (const item of unmapped) {
      lines.push(
        `#   ${item.dimension} ${item.key}: ${item.action}${
          item.value ? ` ${item.value}` : ""
        } (seq:${item.sequence})`,
      );
    }
  }
  return {
    node: committed.node,
    vcluster,
    sequences: committed.sequences,
    sections,
    items: mapped,
    unmapped,
    conflicts,
    toml: `${lines.join("\n")}\n`,
  };
}

function mappable(item: CommittedItem): boolean {
  if (item.action === "remove") return false;
  switch (item.dimension) {
    case "kernel":
      return true;
    case "mounts":
      return (item.fields["type"] ?? "") !== "" && (item.fields["source"] ?? "") !== "";
    case "files":
      return true;
    case "services":
      return item.value === "" || /running|active|started/.test(item.value);
    case "network":
    case "packages":
      return item.value !== "";
    default:
      return false;
  }
}

function inlineTable(
  fields: readonly [string, string | undefined][],
  extra: readonly string[] = [],
): string {
  const parts = fields.filter(([, v]) => v !== undefined && v !== "").map(([k, v]) =>
    `${k} = ${tomlString(v!)}`
  );
  return `{ ${[...parts, ...extra].join(", ")} }`;
}

/** A TOML basic string (JSON's escapes are valid TOML escapes). */
function tomlString(text: string): string {
  return JSON.stringify(text);
}

/** A bare key when it can be one, else a quoted key. */
function tomlKey(key: string): string {
  return /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
}
