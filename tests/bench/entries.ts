/** The entry every benchmark writes: a node-scoped commit, as `pact commit` builds it. */
import { ConfigEntry, PrincipalType } from "../../shared/proto/gen/pact/config/config.ts";
import { commitEntry as cliCommitEntry } from "../../cli/ops/commit.ts";

const MESSAGE = "bench: accept current state after kernel parameter change";

/** A commit for `node` exactly as `pact commit` builds it. */
export function commitEntry(node: string): ConfigEntry {
  return cliCommitEntry(node, MESSAGE);
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
