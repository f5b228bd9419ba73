import type { ConfigEntry } from "../../shared/proto/gen/pact/config/config.ts";

/**
 * An entry as it may leave the journal: the key of an ephemeral CA, which
 * travels in the log so that every replica signs with the same CA, is
 * removed. Every read path (ListEntries, GetEntry, subscriptions, boot
 * streams) goes through this; only the reducer sees the key.
 */
export function redactEntry(entry: ConfigEntry): ConfigEntry {
  const payload = entry.payload;
  if (payload?.$case !== "ca" || payload.value.keyPkcs8.length === 0) return entry;
  return {
    ...entry,
    payload: { $case: "ca", value: { ...payload.value, keyPkcs8: new Uint8Array() } },
  };
}
