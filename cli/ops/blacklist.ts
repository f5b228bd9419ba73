/**
 * `pact blacklist list|add|remove`: drift exclusions kept in the journal
 * (reference §2.4). Each change is a BLACKLIST_CHANGE entry scoped to a
 * node, a vCluster or the whole cluster, with a typed payload the agents'
 * subscription applies at once; the message and the `blacklist_ref`
 * metadata carry the reference's `blacklist:add:<pattern>` form. (The
 * reference records Commit entries with that policy_ref; this journal
 * stamps policy_ref with the deciding rule, so the typed entry carries it.)
 */
import { formatScope, fromProtoScope, type ScopeRef } from "../../shared/domain/scope.ts";
import { EntryType } from "../../shared/proto/gen/pact/config/config.ts";
import { parseBlacklistPattern } from "../../agent/drift/blacklist.ts";
import { clientEntry } from "./entry.ts";
import type { JournalApi } from "./journal_port.ts";

/** One recorded change. */
export interface BlacklistChangeView {
  readonly sequence: number;
  readonly scope: string;
  readonly action: "add" | "remove";
  readonly pattern: string;
  readonly author: string | null;
  readonly timestamp: string | null;
}

/** `pact blacklist list`. */
export interface BlacklistListView {
  /** The scope asked about (`node:n1`, `vcluster:ml`, `global`); null: every scope. */
  readonly scope: string | null;
  /** Patterns the journal adds for that scope (and the scopes above it), in order. */
  readonly journal_patterns: readonly string[];
  /** The agent's effective list (agent.toml or policy + journal); null when not asked. */
  readonly effective: readonly string[] | null;
  readonly changes: readonly BlacklistChangeView[];
}

/** Records one change; returns its sequence. */
export async function changeBlacklist(
  journal: JournalApi,
  scope: ScopeRef,
  action: "add" | "remove",
  pattern: string,
): Promise<{ sequence: number; scope: string; action: string; pattern: string }> {
  parseBlacklistPattern(pattern);
  const ref = `blacklist:${action}:${pattern}`;
  const entry = {
    ...clientEntry(EntryType.BLACKLIST_CHANGE, scope, ref),
    metadata: { blacklist_ref: ref },
    payload: {
      $case: "blacklist" as const,
      value: action === "add" ? { add: [pattern], remove: [] } : { add: [], remove: [pattern] },
    },
  };
  const response = await journal.appendEntry({ entry });
  return { sequence: response.sequence, scope: formatScope(scope), action, pattern };
}

/** The journal's blacklist changes that apply to `scope` (every one when undefined). */
export async function listBlacklist(
  journal: JournalApi,
  scope: ScopeRef | undefined,
  nodeVcluster: string | undefined,
  effective: readonly string[] | null,
): Promise<BlacklistListView> {
  const entries = await journal.listEntries({ entryTypes: [EntryType.BLACKLIST_CHANGE] });
  const applies = (s: ScopeRef | undefined) => {
    if (scope === undefined || s === undefined || s.kind === "global") return true;
    if (s.kind === scope.kind && s.id === (scope as { id: string }).id) return true;
    return scope.kind === "node" && s.kind === "vcluster" && s.id === nodeVcluster;
  };
  const changes: BlacklistChangeView[] = [];
  const patterns: string[] = [];
  for (const entry of entries.sort((a, b) => a.sequence - b.sequence)) {
    const s = fromProtoScope(entry.scope);
    if (entry.payload?.$case !== "blacklist" || !applies(s)) continue;
    const base = {
      sequence: entry.sequence,
      scope: s === undefined ? "global" : formatScope(s),
      author: entry.author?.principal || null,
      timestamp: entry.timestamp?.toISOString() ?? null,
    };
    for (const pattern of entry.payload.value.add) {
      changes.push({ ...base, action: "add", pattern });
      if (!patterns.includes(pattern)) patterns.push(pattern);
    }
    for (const pattern of entry.payload.value.remove) {
      changes.push({ ...base, action: "remove", pattern });
      const at = patterns.indexOf(pattern);
      if (at >= 0) patterns.splice(at, 1);
    }
  }
  return {
    scope: scope === undefined ? null : formatScope(scope),
    journal_patterns: patterns,
    effective,
    changes,
  };
}
