/**
 * The configuration-commands module of the shell server (GetDrift,
 * ExtendCommitWindow, Rollback, Commit, Emergency) over the running NodeAgent.
 */
import { JournalClient } from "../../../cli/client/journal_client.ts";
import { formatHostPort } from "../../../shared/config/listen_address.ts";
import type { ShellModule } from "../start.ts";
import { type CallerJournal, configHandlers } from "./handlers.ts";

/** The module SHELL_MODULES lists. */
export const configCommands: ShellModule = ({ node, agent, journal, log }) => {
  const { config } = node.boot;
  const endpoint = config.journal.endpoints[0];
  const callerJournal: CallerJournal | undefined = journal === undefined || endpoint === undefined
    ? undefined
    : async (request, token) => {
      const client = new JournalClient({
        endpoint: `${config.journal.tls ? "https" : "http"}://${formatHostPort(endpoint)}`,
        token,
        timeoutSeconds: 5,
      });
      try {
        return await client.appendEntry(request);
      } finally {
        client.close();
      }
    };
  return (kit) =>
    configHandlers(kit, {
      node: { nodeId: config.nodeId, vcluster: config.vcluster },
      agent,
      callerJournal,
      now: () => Date.now(),
      log,
    });
};
