/**
 * How the node-config commands (diff, rollback, extend, emergency,
 * blacklist) reach a node's agent, as `pact service` does: `<node>` or
 * --node names the node, the agent answers on the address the journal's
 * node registry recorded for it (`https://...` when its shell serves TLS),
 * else on http://<node>:9445, unless --agent or PACT_AGENT_ENDPOINT names
 * another address. Without a node the command acts on PACT_NODE, else on
 * this host (its hostname): the local shell case, where pact runs on the
 * node itself. Over TLS the agent's certificate must name the node.
 */
import { Command, Option } from "@commander-js/extra-typings";
import { PactError } from "../../shared/errors/mod.ts";
import type { AgentClient } from "../client/agent_client.ts";
import type { CliContext } from "../context.ts";
import { agentEndpoint } from "../ops/service.ts";

/** The targeting flags. */
export interface Target {
  readonly node?: string | undefined;
  readonly agent?: string | undefined;
}

/** Help text shared by the targeted commands. */
export const TARGET_HELP = `
The node is the argument, else --node, else PACT_NODE, else this host's
name. Its agent answers on the address the journal recorded for the node
(https:// when the agent serves TLS), else http://<node>:9445, unless
--agent or PACT_AGENT_ENDPOINT names another address (e.g. --agent
https://10.0.0.5:9445); the token is the journal's (--token, PACT_TOKEN,
the token file or pact login's cache). Over TLS the CLI trusts the CA
bundle in GRPC_DEFAULT_SSL_ROOTS_FILE_PATH (as for the journal) and
refuses a certificate that does not name the node; connecting may take
PACT_AGENT_CONNECT_TIMEOUT seconds (default 5).
`;

/** Adds --node and --agent. */
export function targeted(command: Command) {
  return command
    .option("--node <node>", "the node, e.g. node042")
    .addOption(
      new Option(
        "--agent <url>",
        "the agent's address, http://host:port or https://host:port (default: the registry's, else http://<node>:9445)",
      ),
    );
}

/** The node named by the argument, --node, PACT_NODE or the hostname. */
export function nodeOf(ctx: CliContext, argument: string | undefined, target: Target): string {
  const node = argument ?? target.node ?? ctx.env("PACT_NODE") ?? hostname();
  if (node === undefined || node === "") {
    throw new PactError("INVALID_ARGUMENT", "No node given: pass <node> or --node <node>");
  }
  return node;
}

/** Runs `body` with a client for the node's agent; exit 2 without a token. */
export async function withAgent<T>(
  ctx: CliContext,
  node: string,
  target: Target,
  body: (api: AgentClient, node: string) => Promise<T>,
): Promise<T> {
  const { endpoint } = agentEndpoint(node, target.agent, ctx.env("PACT_AGENT_ENDPOINT"));
  return await withAgentAt(ctx, endpoint, (api) => body(api, node), node);
}

/**
 * Runs `body` with a client for the agent at `endpoint` (the caller's
 * token, the CLI's timeout, PACT_AGENT_CONNECT_TIMEOUT) and closes it;
 * exit 2 without a token. `node` is the node addressed: over TLS the
 * agent's certificate must name it, and when `endpoint` is the default
 * http://<node>:9445 the address the node's agent recorded in the
 * journal (https when it serves TLS) is used instead.
 */
export async function withAgentAt<T>(
  ctx: CliContext,
  endpoint: string,
  body: (api: AgentClient) => Promise<T>,
  node?: string,
): Promise<T> {
  const settings = await ctx.settings();
  const token = await ctx.token();
  const connectTimeoutMs = connectTimeoutOf(ctx.env("PACT_AGENT_CONNECT_TIMEOUT"));
  const nodeId = node !== undefined && NODE_NAME.test(node) ? node : undefined;
  const dialed = nodeId !== undefined && endpoint === `http://${nodeId}:${DEFAULT_AGENT_PORT}`
    ? await recordedAddress(ctx, token, nodeId) ?? endpoint
    : endpoint;
  const { AgentClient } = await import("../client/agent_client.ts");
  const client = new AgentClient({
    endpoint: dialed,
    token,
    timeoutSeconds: settings.timeoutSeconds,
    nodeId,
    connectTimeoutMs,
  });
  try {
    return await body(client);
  } finally {
    client.close();
  }
}

const DEFAULT_AGENT_PORT = 9445;
const NODE_NAME = /^[A-Za-z][A-Za-z0-9._-]*$/;

/** PACT_AGENT_CONNECT_TIMEOUT (seconds, 1-600) in ms; undefined: the client's 5 s. */
export function connectTimeoutOf(text: string | undefined): number | undefined {
  if (text === undefined || text === "") return undefined;
  const seconds = Number(text);
  if (!(seconds > 0 && seconds <= 600)) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Invalid PACT_AGENT_CONNECT_TIMEOUT ${JSON.stringify(text)} (seconds, 1-600)`,
    );
  }
  return seconds * 1000;
}

/**
 * The shell address the node's agent recorded in the journal (with its
 * scheme), or undefined when the journal does not know it or cannot be
 * asked within 5 s: then the default address is dialed.
 */
async function recordedAddress(
  ctx: CliContext,
  token: string,
  node: string,
): Promise<string | undefined> {
  const settings = await ctx.settings();
  const { EnrollmentClient } = await import("../client/enrollment_client.ts");
  const { agentAddress } = await import("../ops/fanout.ts");
  const registry = new EnrollmentClient({
    endpoint: settings.endpoint,
    token,
    timeoutSeconds: Math.min(settings.timeoutSeconds, 5),
  });
  try {
    const info = await registry.inspectNode(node);
    return info.shellAddress === "" ? undefined : agentAddress(node, info.shellAddress);
  } catch {
    return undefined;
  } finally {
    registry.close();
  }
}

function hostname(): string | undefined {
  try {
    return Deno.hostname().split(".")[0];
  } catch {
    return undefined;
  }
}
