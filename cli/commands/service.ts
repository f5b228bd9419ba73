import { Command, Option } from "@commander-js/extra-typings";
import { PactError } from "../../shared/errors/mod.ts";
import type { CliContext } from "../context.ts";
import {
  type AgentApi,
  agentEndpoint,
  serviceControl,
  type ServiceControlView,
  serviceStatus,
  type ServiceStatusView,
} from "../ops/service.ts";
import { renderTable } from "../output/table.ts";
import { withAgentAt } from "./agent_target.ts";

const SERVICE_HELP = `
The node's agent answers on port 9445: pact calls http://<node>:9445 unless
--agent or PACT_AGENT_ENDPOINT names another address. The token is the
same as for the journal (--token, PACT_TOKEN, the token file or pact
login's cache); the agent checks it itself. Reading (status, logs) needs
pact-platform-admin, pact-ops-<vcluster> or pact-viewer-<vcluster> of the
node's vCluster; start, stop and restart need pact-platform-admin or
pact-ops-<vcluster>, and the agent journals each one.

Examples:
  pact service status --node node042
  pact service restart chronyd --node node042
  pact service logs nvidia-persistenced --node node042 -n 200 --follow
`;

interface Target {
  readonly node?: string | undefined;
  readonly agent?: string | undefined;
}

/** `pact service status|start|stop|restart|logs`: the services one node supervises. */
export function serviceCommand(ctx: CliContext) {
  const service = new Command("service")
    .description("Status, start/stop/restart and logs of a node's supervised services")
    .addHelpText("after", SERVICE_HELP);
  service.addCommand(
    targeted(new Command("status"))
      .description("Show every service of the node, or one")
      .argument("[name]", "one service")
      .action(async (name, options) => {
        const view = await withAgent(ctx, options, (api, node) => serviceStatus(api, node, name));
        await ctx.print(view, renderStatus);
      }),
  );
  for (const action of ["start", "stop", "restart"] as const) {
    service.addCommand(
      targeted(new Command(action))
        .description(`${capitalized(action)} one service (journaled by the agent)`)
        .argument("<name>", "the service")
        .action(async (name, options) => {
          const view = await withAgent(
            ctx,
            options,
            (api, node) => serviceControl(api, node, name, action),
          );
          await ctx.print(view, renderControl);
        }),
    );
  }
  service.addCommand(
    targeted(new Command("logs"))
      .description("Print the last lines a service wrote; --follow keeps printing new ones")
      .argument("<name>", "the service")
      .option("-n, --lines <count>", "how many lines (default 50, at most 10000)")
      .option("-f, --follow", "keep printing new lines until interrupted")
      .action(async (name, options) => {
        const lines = linesOf(options.lines);
        const json = (await ctx.settings()).output === "json";
        await withAgent(ctx, options, async (api) => {
          const request = { name, lines, follow: options.follow === true };
          for await (const chunk of api.serviceLogs(request, new AbortController().signal)) {
            for (const line of chunk) {
              ctx.io.out(json ? `${JSON.stringify({ service: name, line })}\n` : `${line}\n`);
            }
          }
        });
      }),
  );
  for (const sub of service.commands) {
    sub.configureOutput({ writeOut: (t) => ctx.io.out(t), writeErr: (t) => ctx.io.err(t) })
      .showHelpAfterError(`(run pact service ${sub.name()} --help for usage)`)
      .exitOverride();
  }
  return service;
}

function targeted(command: Command) {
  return command
    .option("--node <node>", "the node whose agent to ask, e.g. node042")
    .addOption(
      new Option("--agent <host:port>", "the agent's address (default http://<node>:9445)"),
    );
}

/** Runs `body` with a client for the target's agent; exit 2 without a token. */
async function withAgent<T>(
  ctx: CliContext,
  target: Target,
  body: (api: AgentApi, node: string) => Promise<T>,
): Promise<T> {
  const { endpoint, node } = agentEndpoint(
    target.node,
    target.agent,
    ctx.env("PACT_AGENT_ENDPOINT"),
  );
  return await withAgentAt(ctx, endpoint, (api) => body(api, node), node);
}

function linesOf(text: string | undefined): number {
  if (text === undefined) return 0;
  const lines = Number(text);
  if (!Number.isInteger(lines) || lines < 1 || lines > 10_000) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Invalid --lines ${JSON.stringify(text)}: expected a whole number from 1 to 10000`,
    );
  }
  return lines;
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function renderStatus(view: ServiceStatusView): string {
  const header = `Node ${view.node} (${view.backend} backend): ${view.services.length} service${
    view.services.length === 1 ? "" : "s"
  }\n`;
  if (view.services.length === 0) return `${header}(no services declared)\n`;
  const rows = view.services.map((s) => [
    s.name,
    s.state,
    s.pid === null ? "-" : String(s.pid),
    String(s.restart_count),
    s.last_exit_code === null ? "-" : String(s.last_exit_code),
    s.health ?? "-",
  ]);
  return header + renderTable(["SERVICE", "STATE", "PID", "RESTARTS", "LAST EXIT", "HEALTH"], rows);
}

function renderControl(view: ServiceControlView): string {
  const past = { start: "Started", stop: "Stopped", restart: "Restarted" }[view.action] ??
    view.action;
  const pid = view.service.pid === null ? "" : `, pid ${view.service.pid}`;
  const journaled = view.journal_sequence === null
    ? "not journaled yet (see the agent's log)"
    : `journaled as seq:${view.journal_sequence}`;
  return `${past} ${view.service.name} on ${view.node}: ${view.service.state}${pid}; ${journaled}\n`;
}
