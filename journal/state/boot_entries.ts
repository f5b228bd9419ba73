/**
 * Which node-scoped entries shape what a node boots with (phase 2 of a
 * boot). The state keeps them per node so that every replica serves boot
 * streams from memory, without reading the store once per booting node.
 */
import { type ConfigEntry, EntryType } from "../../shared/proto/gen/pact/config/config.ts";

/** Node-scoped entry types that shape what a node boots with. */
export const NODE_DELTA_ENTRY_TYPES: readonly EntryType[] = [
  EntryType.COMMIT,
  EntryType.ROLLBACK,
  EntryType.NODE_ASSIGNED,
  EntryType.NODE_MOVED,
  EntryType.NODE_UNASSIGNED,
];

/** How an entry takes part in a node delta. */
export type BootEntryKind =
  /** A commit carrying a state delta or declared state: re-applied. */
  | "delta"
  /**
   * A rollback naming its target (`pact rollback <seq>`): the target no
   * longer counts. A rollback without a parent (the agent reverting drift
   * to the declared state) changes nothing declared and is "none".
   */
  | "rollback"
  /** A node (un)assignment or move: only moves the delta's version. */
  | "assignment"
  /** Anything else: no part of the node delta. */
  | "none";

export function bootEntryKind(entry: ConfigEntry): BootEntryKind {
  if (entry.entryType === EntryType.COMMIT) {
    const payload = entry.payload?.$case;
    return payload === "stateDelta" || payload === "declared" ? "delta" : "none";
  }
  if (entry.entryType === EntryType.ROLLBACK) {
    return entry.parent !== undefined ? "rollback" : "none";
  }
  return NODE_DELTA_ENTRY_TYPES.includes(entry.entryType) ? "assignment" : "none";
}

/**
 * A node's boot entries after `entry` (applied in sequence order): delta
 * and rollback entries are all kept; of assignment entries only the newest, since all
 * they contribute is the delta's version. The node delta computed from the
 * result is the same as from every entry of NODE_DELTA_ENTRY_TYPES.
 */
export function withBootEntry(
  entries: readonly ConfigEntry[],
  entry: ConfigEntry,
): readonly ConfigEntry[] {
  switch (bootEntryKind(entry)) {
    case "delta":
    case "rollback":
      return [...entries, entry];
    case "assignment":
      return [...entries.filter((e) => bootEntryKind(e) !== "assignment"), entry];
    case "none":
      return entries;
  }
}
