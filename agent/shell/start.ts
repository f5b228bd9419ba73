/**
 * Wires the shell server to a booted node: each feature module (services,
 * and the modules listed in SHELL_MODULES) builds its handlers from the
 * node, the agent's journal queue and its drift loop.
 */
import { formatHostPort } from "../../shared/config/listen_address.ts";
import type { RunningNode } from "../boot/run_boot.ts";
import type { EntrySink, NodeAgent } from "../node_agent.ts";
import { execModule } from "./exec/exec_handlers.ts";
import { PactSupervisor } from "../supervisor/supervisor.ts";
import type { Handlers, RpcKit } from "./rpc_kit.ts";
import { type ShellServer, startShellServer } from "./server.ts";
import { serviceHandlers } from "./service_handlers.ts";
import { ServiceOps } from "./service_ops.ts";
import { diagModule } from "./diag/diag_handlers.ts";
import { journalShellAddress } from "./shell_address.ts";
import { shellSessions } from "./session/module.ts";
import { configCommands } from "./config/module.ts";
import { capabilityModule } from "../capability/shell_module.ts";
import { nodePolicy } from "../policy/node_policy.ts";
import { shellTls } from "./shell_tls.ts";

/** What a shell feature module may use. */
export interface ShellContext {
  readonly node: RunningNode;
  /** The agent's durable journal queue; undefined when no journal is configured. */
  readonly journal: EntrySink | undefined;
  /** The drift loop (commit windows, rollback, emergency); undefined when not running. */
  readonly agent: NodeAgent | undefined;
  readonly log: (line: string) => void;
}

/** A feature module of the shell server: its handlers over the node. */
export type ShellModule = (context: ShellContext) => (kit: RpcKit) => Handlers;

/** The services module: ServiceStatus, ServiceControl, ServiceLogs. */
const services: ShellModule = ({ node, journal, agent, log }) => {
  const { config, services } = node.boot;
  const ops = new ServiceOps({
    node: {
      nodeId: config.nodeId,
      vcluster: config.vcluster,
      policy: () => nodePolicy(node).policy,
    },
    services,
    logsOf: services instanceof PactSupervisor ? (name) => services.logs(name) : undefined,
    journal,
    drift: agent && (() => agent.state),
    log,
  });
  return (kit) => serviceHandlers(kit, ops);
};

/** Every module the agent serves, in order (a later one may override an earlier one). */
export const SHELL_MODULES: readonly ShellModule[] = [
  services,
  configCommands,
  shellSessions,
  execModule,
  diagModule,
  capabilityModule,
];

/**
 * Starts the shell server unless `[agent.shell] enabled = false`; logs where
 * it listens and whether it serves TLS (`[agent.shell] tls`), or why it
 * could not start (the agent runs on without it).
 */
export async function startShell(context: ShellContext): Promise<ShellServer | undefined> {
  const { node, journal, log } = context;
  const { config } = node.boot;
  if (!config.shell.enabled) {
    log("shell: disabled ([agent.shell] enabled = false)");
    return undefined;
  }
  const tls = await shellTls({
    mode: config.shell.tls,
    files: config.shell.tlsFiles,
    hostRoot: config.hostRoot,
    identity: node.boot.identity,
  });
  if (tls.kind === "refused") {
    // Boot goes on: services run, only remote commands are lost.
    log(`shell: not started: ${tls.reason}`);
    return undefined;
  }
  let server: ShellServer;
  try {
    server = await startShellServer({
      listen: config.shell.listen,
      auth: config.shell.auth,
      modules: SHELL_MODULES.map((module) => module(context)),
      tls: tls.kind === "tls" ? tls.credentials : undefined,
      log,
    });
  } catch (err) {
    if (tls.kind === "tls") tls.close();
    // The node keeps running its services; only remote commands are lost.
    log(`shell: not started: ${(err as Error).message}`);
    return undefined;
  }
  const note = tls.kind === "tls" ? `TLS: ${tls.source}` : `plaintext: ${tls.reason}`;
  if (tls.kind === "plaintext" && tls.warn) {
    log(
      `shell: WARN serving plaintext, tokens and output cross the network unencrypted: ${tls.reason}`,
    );
  }
  if (!config.shell.auth) {
    log("shell: [agent.shell.auth] is not configured: every call will be refused (fail closed)");
  }
  if (!journal) log("shell: no journal: remote actions are logged, not journaled");
  log(`shell: listening on ${formatHostPort(server.address)} (${note})`);
  void journalShellAddress(
    { nodeId: config.nodeId, record: node.boot.record, journal, log, tls: server.tls, note },
    server.address,
  );
  if (tls.kind !== "tls") return server;
  return {
    ...server,
    shutdown: async (graceMs) => {
      tls.close();
      await server.shutdown(graceMs);
    },
  };
}
