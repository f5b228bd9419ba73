/**
 * How the node-config commands (diff, rollback, extend, emergency,
 * blacklist) reach a node's agent, as `pact service` does: `<node>` or
 * --node names the node, the agent answers on http://<node>:9445 unless
 * --agent or PACT_AGENT_ENDPOINT names another address. Without a node the
 * command acts on PACT_NODE, else on this host (its hostname): the local
 * shell case, where pact runs on the node itself.
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
name. Its agent answers on http://<node>:9445 unless --agent or
PACT_AGENT_ENDPOINT names another address; the token is the journal's
(--token, PACT_TOKEN, the token file or pact login's cache).
`;

/** Adds --node and --agent. */
export function targeted(command: Command) {
  return command
    .option("--node <node>", "the node, e.g. node042")
    .addOption(
      new Option("--agent <host:port>", "the agent's address (default http://<node>:9445)"),
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
  return await withAgentAt(ctx, endpoint, (api) => body(api, node));
}

/**
 * Runs `body` with a client for the agent at `endpoint` (the caller's
 * token, the CLI's timeout) and closes it; exit 2 without a token.
 */
export async function withAgentAt<T>(
  ctx: CliContext,
  endpoint: string,
  body: (api: AgentClient) => Promise<T>,
): Promise<T> {
  const settings = await ctx.settings();
  const token = await ctx.token();
  const { AgentClient } = await import("../client/agent_client.ts");
  const client = new AgentClient({ endpoint, token, timeoutSeconds: settings.timeoutSeconds });
  try {
    return await body(client);
  } finally {
    client.close();
  }
}

function hostname(): string | undefined {
  try {
    return Deno.hostname().split(".")[0];
  } catch {
    return undefined;
  }
}
