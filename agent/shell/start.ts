/**
 * Wires the shell server to a booted node: its ServiceManager, the
 * supervisor's logs (pact backend) and the agent's journal queue.
 */
import { formatHostPort } from "../../shared/config/listen_address.ts";
import type { RunningNode } from "../boot/run_boot.ts";
import type { EntrySink } from "../node_agent.ts";
import { PactSupervisor } from "../supervisor/supervisor.ts";
import { type ShellServer, startShellServer } from "./server.ts";
import { ServiceOps } from "./service_ops.ts";

/**
 * Starts the shell server unless `[agent.shell] enabled = false`; logs where
 * it listens, or why it could not start (the agent runs on without it).
 */
export async function startShell(
  node: RunningNode,
  journal: EntrySink | undefined,
  log: (line: string) => void,
): Promise<ShellServer | undefined> {
  const { config, services } = node.boot;
  if (!config.shell.enabled) {
    log("shell: disabled ([agent.shell] enabled = false)");
    return undefined;
  }
  const ops = new ServiceOps({
    node: { nodeId: config.nodeId, vcluster: config.vcluster },
    services,
    logsOf: services instanceof PactSupervisor ? (name) => services.logs(name) : undefined,
    journal,
    log,
  });
  let server: ShellServer;
  try {
    server = await startShellServer({
      listen: config.shell.listen,
      auth: config.shell.auth,
      services: ops,
      log,
    });
  } catch (err) {
    // The node keeps running its services; only remote service commands are lost.
    log(`shell: not started: ${(err as Error).message}`);
    return undefined;
  }
  if (!config.shell.auth) {
    log("shell: [agent.shell.auth] is not configured: every call will be refused (fail closed)");
  }
  if (!journal) log("shell: no journal: service control actions are logged, not journaled");
  log(`shell: listening on ${formatHostPort(server.address)}`);
  return server;
}
