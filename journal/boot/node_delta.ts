/**
 * Phase 2 of a boot: the committed node-scoped changes a node re-applies on
 * top of its vCluster overlay, so that committed changes survive reboots.
 * Pure: the caller reads the entries and passes the time.
 */
import type { ConfigEntry } from "../../shared/proto/gen/pact/config/config.ts";
import { bootEntryKind } from "../state/boot_entries.ts";
import {
  declaredItemKeys,
  filterDeclared,
  filterStateDelta,
  isEmptyDeclared,
  isEmptyStateDelta,
  stateDeltaItemKeys,
} from "./item_keys.ts";

export { NODE_DELTA_ENTRY_TYPES } from "../state/boot_entries.ts";

/** What `nodeDelta` returns. */
export interface NodeDeltaResult {
  /** The entries to re-apply, oldest first, trimmed of superseded items. */
  readonly entries: ConfigEntry[];
  /** Sequence of the latest entry that shaped the delta; undefined when none did. */
  readonly version: number | undefined;
}

/**
 * The node delta from the node's entries (oldest first, of
 * NODE_DELTA_ENTRY_TYPES). An item is superseded when the node's vCluster
 * overlay set or removed the same item (`overlayKeySequences`) after the
 * entry; an entry a Rollback names as its parent (`pact rollback <seq>`)
 * is left out, as is one whose TTL has run out at `nowMs`; entries with
 * nothing left are dropped. Rollback entries themselves re-apply nothing.
 */
export function nodeDelta(
  entries: readonly ConfigEntry[],
  overlayKeySequences: ReadonlyMap<string, number>,
  nowMs: number,
): NodeDeltaResult {
  let version: number | undefined;
  const rolledBack = new Set(
    entries.filter((e) => bootEntryKind(e) === "rollback").map((e) => e.parent!),
  );
  const kept: ConfigEntry[] = [];
  for (const entry of entries) {
    const kind = bootEntryKind(entry);
    if (kind === "none") continue;
    version = Math.max(version ?? -1, entry.sequence);
    if (kind !== "delta" || rolledBack.has(entry.sequence) || expired(entry, nowMs)) continue;
    const keep = (key: string) => (overlayKeySequences.get(key) ?? -1) < entry.sequence;
    const trimmed = trim(entry, keep);
    if (trimmed) kept.push(trimmed);
  }
  return { entries: kept, version };
}

function expired(entry: ConfigEntry, nowMs: number): boolean {
  const ttl = entry.ttlSeconds ?? 0;
  const at = entry.timestamp?.getTime();
  return ttl > 0 && at !== undefined && at + ttl * 1000 <= nowMs;
}

/** The entry without superseded items, itself when nothing is, undefined when all are. */
function trim(entry: ConfigEntry, keep: (key: string) => boolean): ConfigEntry | undefined {
  const payload = entry.payload;
  if (payload?.$case === "stateDelta") {
    if (stateDeltaItemKeys(payload.value).every(keep)) {
      return isEmptyStateDelta(payload.value) ? undefined : entry;
    }
    const value = filterStateDelta(payload.value, keep);
    return isEmptyStateDelta(value)
      ? undefined
      : { ...entry, payload: { $case: "stateDelta", value } };
  }
  if (payload?.$case === "declared") {
    if (declaredItemKeys(payload.value).every(keep)) {
      return isEmptyDeclared(payload.value) ? undefined : entry;
    }
    const value = filterDeclared(payload.value, keep);
    return isEmptyDeclared(value) ? undefined : { ...entry, payload: { $case: "declared", value } };
  }
  return undefined;
}
