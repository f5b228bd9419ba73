/** The entry every benchmark writes: a node-scoped commit, as `pact commit` builds it. */
import {
  ConfigEntry,
  EntryType,
  PrincipalType,
} from "../../shared/proto/gen/pact/config/config.ts";
import { toProtoScope } from "../../shared/domain/scope.ts";

const MESSAGE = "bench: accept current state after kernel parameter change";

/** A commit for `node` as the CLI sends it (the journal stamps sequence, time and author). */
export function commitEntry(node: string): ConfigEntry {
  return {
    sequence: 0,
    timestamp: undefined,
    entryType: EntryType.COMMIT,
    scope: toProtoScope({ kind: "node", id: node }),
    author: undefined,
    policyRef: "",
    emergencyReason: "",
    message: MESSAGE,
    requestId: crypto.randomUUID(),
    metadata: {},
    payload: undefined,
  };
}

/**
 * The bytes the journal would store for one commit: the client's entry plus
 * the fields the server stamps, so the SQLite baseline writes rows of the
 * same size as the journal does.
 */
export function storedCommitBytes(): Uint8Array {
  const entry: ConfigEntry = {
    ...commitEntry("bench-node-00"),
    sequence: 123_456,
    timestamp: new Date(),
    author: {
      principal: "admin@example.org",
      principalType: PrincipalType.HUMAN,
      role: "pact-platform-admin",
    },
  };
  return ConfigEntry.encode(entry).finish();
}
