/**
 * Builders of valid journal entries for tests. Each returns a complete
 * ConfigEntry that passes validation; tests break one field at a time.
 */
import {
  type BootOverlay,
  ConfigEntry,
  EntryType,
  PrincipalType,
  type VClusterPolicy,
} from "../proto/gen/pact/config/config.ts";
import { type ScopeRef, toProtoScope } from "../domain/scope.ts";
import { sha256Hex } from "../hash.ts";

/** The author tests use unless they say otherwise. */
export const ADMIN = {
  principal: "admin@example.org",
  principalType: PrincipalType.HUMAN,
  role: "pact-platform-admin",
};

/** An entry of `type` in `scope`, authored by ADMIN. */
export function entry(
  type: EntryType,
  scope: ScopeRef,
  fields: Partial<ConfigEntry> = {},
): ConfigEntry {
  return ConfigEntry.fromPartial({
    entryType: type,
    scope: toProtoScope(scope),
    author: ADMIN,
    ...fields,
  });
}

/** A node-scoped commit with a message. */
export function commit(nodeId: string, message = "test commit", fields: Partial<ConfigEntry> = {}) {
  return entry(EntryType.COMMIT, { kind: "node", id: nodeId }, { message, ...fields });
}

/** A policy update for a vCluster. */
export function policyUpdate(vclusterId: string, policy: Partial<VClusterPolicy> = {}) {
  return entry(EntryType.POLICY_UPDATE, { kind: "vcluster", id: vclusterId }, {
    payload: { $case: "policy", value: { vclusterId, ...policy } as VClusterPolicy },
  });
}

/** An overlay update whose checksum matches its data. */
export function overlayUpdate(
  vclusterId: string,
  data: Uint8Array,
  overrides: Partial<BootOverlay> = {},
) {
  return entry(EntryType.OVERLAY_UPDATE, { kind: "vcluster", id: vclusterId }, {
    payload: {
      $case: "overlay",
      value: {
        vclusterId,
        version: 0,
        data,
        checksum: sha256Hex(data),
        encoding: "identity",
        ...overrides,
      },
    },
  });
}
