import type { ConfigEntry, EntryType } from "../../shared/proto/gen/pact/config/config.ts";
import { type ScopeRef, toProtoScope } from "../../shared/domain/scope.ts";

/**
 * An entry as the CLI sends it: the journal stamps the sequence, time and
 * author; a fresh request id makes a retry of the same call idempotent.
 */
export function clientEntry(type: EntryType, scope: ScopeRef, message: string): ConfigEntry {
  return {
    sequence: 0,
    timestamp: undefined,
    entryType: type,
    scope: toProtoScope(scope),
    author: undefined,
    policyRef: "",
    emergencyReason: "",
    message,
    requestId: crypto.randomUUID(),
    metadata: {},
    payload: undefined,
  };
}
