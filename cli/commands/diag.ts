import { Command, Option } from "@commander-js/extra-typings";
import { PactError } from "../../shared/errors/mod.ts";
import type { CliContext } from "../context.ts";
import { agentAddress, fanoutOptionsOf, fleetExitCode, summaryLine } from "../ops/fanout.ts";
import {
  checkGrep,
  collectDiag,
  type DiagApi,
  diagRequest,
  fleetDiag,
  fleetJson,
  renderDiag,
  renderFleet,
} from "../ops/diag.ts";

const DIAG_HELP = `
Logs are read and filtered on the node: --grep (a JavaScript regular
expression, at most 255 characters) and --lines (the last N matching
lines per source, default 100, at most 10000) are applied by the agent,
so only matching lines cross the network. Sources: system (kernel ring
buffer and syslog), service (the supervised services' logs; --service
for one), all (default). Needs pact-platform-admin or pact-ops-<vcluster>
of the node's vCluster; viewers are refused. Each call is journaled.

The agent's address comes from the journal's node registry (where the
agent said its shell listens), else http://<node>:9445; --agent or
PACT_AGENT_ENDPOINT overrides it for one node.

Fleet mode (--vcluster, or the default vCluster when no node is given)
asks every node of the vCluster, --concurrency at a time (default 50),
each within --node-timeout seconds (default 30). Nodes with the same
output are printed once under their node list, like dshbak -c
(----------------/node[001-003]/----------------); --prefix prints every
line as "[node] line" instead. Unreachable nodes are reported as
"[WARN] <node>: unreachable (<reason>)" on stderr with the other nodes'
results; --max-failures N stops starting new nodes once more than N
failed. A summary line goes to stderr (progress too, on a terminal).

Exit codes in fleet mode: 0 every node answered, 5 every node was
unreachable, 1 otherwise (some failed, unreachable or not started).

Examples:
  pact diag node042
  pact diag node042 --source system --grep "Out of memory|oom" --lines 50
  pact diag node042 --source service --service chronyd
  pact diag --vcluster ml-training --grep "NVRM: Xid"
  pact diag --vcluster ml-training --source system --prefix --max-failures 10
`;

interface DiagFlags {
  readonly lines?: string | undefined;
  readonly source?: string | undefined;
  readonly service?: string | undefined;
  readonly grep?: string | undefined;
  readonly vcluster?: string | undefined;
  readonly agent?: string | undefined;
  readonly prefix?: true | undefined;
  readonly concurrency?: string | undefined;
  readonly nodeTimeout?: string | undefined;
  readonly maxFailures?: string | undefined;
}

/** `pact diag [node]`: a node's (or a vCluster's) logs, filtered on the agents. */
export function diagCommand(ctx: CliContext) {
  return new Command("diag")
    .description("Collect kernel, syslog and service logs from a node or a whole vCluster")
    .argument("[node]", "the node, e.g. node042 (omit with --vcluster)")
    .option("-n, --lines <count>", "last matching lines per source (default 100, at most 10000)")
    .addOption(
      new Option("--source <source>", "which logs (default all)").choices([
        "system",
        "service",
        "all",
      ]),
    )
    .option("--service <name>", "only this service's log")
    .option("--grep <regex>", "only lines matching this regular expression (on the agent)")
    .option("--vcluster <name>", "every node of this vCluster (fleet mode)")
    .option("--agent <host:port>", "the agent's address (one node)")
    .option("--prefix", "fleet mode: print every line as [node] line instead of grouping")
    .option("--concurrency <count>", "fleet mode: nodes asked at once (default 50)")
    .option("--node-timeout <seconds>", "fleet mode: time per node (default 30)")
    .option("--max-failures <count>", "fleet mode: stop starting nodes after more failures")
    .addHelpText("after", DIAG_HELP)
    .action(async (node, flags) => {
      const request = diagRequest(flags);
      if (node !== undefined) return await singleNode(ctx, node, flags, request);
      const vcluster = flags.vcluster ?? (await ctx.settings()).vcluster;
      if (!vcluster) {
        throw new PactError(
          "INVALID_ARGUMENT",
          "No node given: pass a node (pact diag node042) or --vcluster <name>",
        );
      }
      await fleet(ctx, vcluster, flags, request);
    });
}

type Request = ReturnType<typeof diagRequest>;

async function singleNode(ctx: CliContext, node: string, flags: DiagFlags, request: Request) {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(node)) {
    throw new PactError("INVALID_ARGUMENT", `Invalid node name: ${JSON.stringify(node)}`);
  }
  const token = await ctx.token();
  const explicit = flags.agent || ctx.env("PACT_AGENT_ENDPOINT");
  const endpoint = explicit
    ? (/^[a-z]+:\/\//i.test(explicit) ? explicit : `http://${explicit}`)
    : await registeredAddress(ctx, token, node);
  const api = await diagClient(ctx, token, endpoint, undefined, node);
  try {
    const view = await collectDiag(api, node, request, new AbortController().signal);
    await ctx.print(view, renderDiag);
  } finally {
    api.close();
  }
}

async function fleet(ctx: CliContext, vcluster: string, flags: DiagFlags, request: Request) {
  const options = fanoutOptionsOf(flags);
  if (request.grepPattern !== "") checkGrep(request.grepPattern);
  const settings = await ctx.settings();
  const token = await ctx.token();
  const targets = await withRegistry(ctx, token, settings.timeoutSeconds, async (registry) => {
    const { fleetTargets } = await import("../ops/fanout.ts");
    return await fleetTargets(registry, vcluster);
  });
  const terminal = isTerminal();
  const timeoutSeconds = options.nodeTimeoutMs / 1000;
  const result = await fleetDiag(
    targets,
    request,
    (target) => diagClient(ctx, token, target.endpoint, timeoutSeconds, target.node),
    {
      ...options,
      onProgress: terminal
        ? (p) => ctx.io.err(`\r[${p.done}/${p.total}] ${p.failed} failed`)
        : undefined,
    },
  );
  if (terminal) ctx.io.err("\r\x1b[K");
  if (settings.output === "json") {
    ctx.io.out(`${JSON.stringify(fleetJson(result), null, 2)}\n`);
  } else {
    const { out, warnings } = renderFleet(result, {
      prefix: flags.prefix === true,
      maxFailures: options.maxFailures,
    });
    ctx.io.out(out);
    for (const line of warnings) ctx.io.err(`${line}\n`);
  }
  ctx.io.err(`pact: diag on vCluster ${vcluster}: ${summaryLine(result)}\n`);
  ctx.setExitCode(fleetExitCode(result));
}

function isTerminal(): boolean {
  try {
    return Deno.stderr.isTerminal();
  } catch {
    return false;
  }
}

async function diagClient(
  ctx: CliContext,
  token: string,
  endpoint: string,
  timeoutSeconds?: number,
  nodeId?: string,
): Promise<DiagApi> {
  const { AgentClient } = await import("../client/agent_client.ts");
  const { connectTimeoutOf } = await import("./agent_target.ts");
  return new AgentClient({
    endpoint,
    token,
    timeoutSeconds: timeoutSeconds ?? (await ctx.settings()).timeoutSeconds,
    nodeId,
    connectTimeoutMs: connectTimeoutOf(ctx.env("PACT_AGENT_CONNECT_TIMEOUT")),
  });
}

/**
 * The address the node's agent reported to the journal, else
 * http://<node>:9445 (also when the journal cannot be asked).
 */
async function registeredAddress(ctx: CliContext, token: string, node: string): Promise<string> {
  try {
    const timeout = Math.min((await ctx.settings()).timeoutSeconds, 5);
    const info = await withRegistry(ctx, token, timeout, (registry) => registry.inspectNode(node));
    return agentAddress(node, info.shellAddress);
  } catch {
    return agentAddress(node, "");
  }
}

async function withRegistry<T>(
  ctx: CliContext,
  token: string,
  timeoutSeconds: number,
  body: (registry: import("../client/enrollment_client.ts").EnrollmentClient) => Promise<T>,
): Promise<T> {
  const settings = await ctx.settings();
  const { EnrollmentClient } = await import("../client/enrollment_client.ts");
  const client = new EnrollmentClient({ endpoint: settings.endpoint, token, timeoutSeconds });
  try {
    return await body(client);
  } finally {
    client.close();
  }
}
