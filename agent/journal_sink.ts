/**
 * The agent's EntrySink on a real journal: each entry is one AppendEntry
 * call with the agent's token (role `pact-service-agent`). The request id
 * in every entry makes a retried append idempotent.
 */
import type { JournalClient } from "../cli/client/journal_client.ts";
import type { ConfigEntry } from "../shared/proto/gen/pact/config/config.ts";
import type { EntrySink } from "./node_agent.ts";

/** Appends through a JournalClient. */
export class JournalEntrySink implements EntrySink {
  readonly #client: Pick<JournalClient, "appendEntry">;

  constructor(client: Pick<JournalClient, "appendEntry">) {
    this.#client = client;
  }

  async append(entry: ConfigEntry): Promise<number> {
    return (await this.#client.appendEntry({ entry })).sequence;
  }
}
