import { Command, Option } from "@commander-js/extra-typings";
import { PactError } from "../../shared/errors/mod.ts";
import type { CliContext } from "../context.ts";
import {
  collectExec,
  type CommandListView,
  EXEC_TIMEOUT_MAX_SECONDS,
  type ExecApi,
  execRequest,
  type ExecResultView,
  listCommands,
  notes,
  runExec,
} from "../ops/exec.ts";
import { agentEndpoint } from "../ops/service.ts";
import { withAgentAt } from "./agent_target.ts";
import { renderTable } from "../output/table.ts";

const EXEC_HELP = `
Runs one command on a node through its agent (port 9445), without a shell:
the command and its arguments reach the node exactly as given. Put -- before
the command so that its options are not read as pact's. stdout and stderr
stream to this terminal's stdout and stderr as the command writes them; pact
exits with the command's exit code (124 when the agent's timeout killed it).

Only whitelisted commands run (pact exec --list <node> shows them); anything
else is refused with exit code 6, as are shell escapes (bash, vi, python...),
paths that are not the whitelisted binary, shell metacharacters and paths to
secrets (/etc/shadow, /root/, .ssh...). pact-viewer-<vcluster> may run
read-only commands; state-changing ones (mount, ip, sysctl, systemctl,
modprobe, umount, or e.g. hostname NAME) need pact-ops-<vcluster> or
pact-platform-admin, and open a commit window on the node. A platform admin
may also run commands outside the whitelist (always journaled as bypass).
Every exec is journaled (EXEC_LOG) before it runs and when it ends.

The global --timeout is the command's timeout here (default 300 s, at most
3600). The agent is http://<node>:9445 unless --agent or PACT_AGENT_ENDPOINT
names another address. With the global --vcluster (and no node), the command
runs on every node of the vCluster and identical outputs print once under
their node list.

Examples:
  pact exec node042 -- nvidia-smi -q -d ECC
  pact exec node042 -- dmesg -T
  pact --timeout 30 exec node042 -- journalctl -u chronyd -n 100
  pact exec --list node042
  pact exec node042 --json -- uname -r
  pact exec --vcluster ml-training -- uname -r
`;

interface ExecFlags {
  readonly list?: true | undefined;
  readonly agent?: string | undefined;
  readonly outputLimit?: string | undefined;
  readonly prefix?: true | undefined;
  readonly concurrency?: string | undefined;
  readonly nodeTimeout?: string | undefined;
  readonly maxFailures?: string | undefined;
}

/** `pact exec <node> -- <cmd> [args...]`, `pact exec --list <node>`, fleet mode. */
export function execCommand(ctx: CliContext) {
  return new Command("exec")
    .description("Run a whitelisted command on a node (or a vCluster) through its agent")
    .usage("[options] <node> -- <command> [args...]")
    .argument("[command...]", "the node, then -- and the command with its arguments")
    .option("--list", "show the commands the node runs (and its whitelist mode)")
    .addOption(
      new Option("--agent <host:port>", "the agent's address (default http://<node>:9445)"),
    )
    .option(
      "--output-limit <bytes>",
      "bytes of stdout and of stderr kept (default and most 10 MiB)",
    )
    .option("--prefix", "fleet mode: print every line as [node] line instead of grouping")
    .option("--concurrency <count>", "fleet mode: nodes asked at once (default 50)")
    .option("--node-timeout <seconds>", "fleet mode: time per node (default: the timeout + 30)")
    .option("--max-failures <count>", "fleet mode: stop starting nodes after more failures")
    .addHelpText("after", EXEC_HELP)
    .action(async (words, flags, command) => {
      const globals = (command.parent?.opts() ?? {}) as { timeout?: string; vcluster?: string };
      const timeoutSeconds = timeoutOf(globals.timeout);
      const outputLimitBytes = outputLimitOf(flags.outputLimit);
      if (flags.list) {
        const [node, ...rest] = words;
        if (node === undefined || rest.length > 0) {
          throw new PactError("INVALID_ARGUMENT", "Usage: pact exec --list <node>");
        }
        const view = await withExecApi(ctx, node, flags, (api) => listCommands(api, node));
        await ctx.print(view, renderList);
        return;
      }
      if (globals.vcluster !== undefined && flags.agent === undefined) {
        const raw = (command.parent as unknown as { rawArgs?: string[] } | null)?.rawArgs ?? [];
        if (wordsBeforeDashes(words, raw) > 0) {
          throw new PactError(
            "INVALID_ARGUMENT",
            "--vcluster runs on every node of the vCluster: pact exec --vcluster <name> -- <command> [args...] (no node)",
          );
        }
        const request = execRequest(words, { timeoutSeconds, outputLimitBytes });
        ctx.setExitCode(await fleetExec(ctx, globals.vcluster, request, flags));
        return;
      }
      const [node, ...commandWords] = words;
      if (node === undefined) {
        throw new PactError(
          "INVALID_ARGUMENT",
          "No node given: pact exec <node> -- <command> [args...]",
        );
      }
      const request = execRequest(commandWords, { timeoutSeconds, outputLimitBytes });
      const json = (await ctx.settings()).output === "json";
      const result = await withExecApi(ctx, node, flags, (api) => {
        const out = new TextDecoder();
        const err = new TextDecoder();
        const emit = (stream: "stdout" | "stderr", text: string) => {
          if (text === "") return;
          if (json) ctx.io.out(`${JSON.stringify({ node, stream, data: text })}\n`);
          else if (stream === "stdout") ctx.io.out(text);
          else ctx.io.err(text);
        };
        return runExec(api, node, request, {
          stdout: (bytes) => emit("stdout", out.decode(bytes, { stream: true })),
          stderr: (bytes) => emit("stderr", err.decode(bytes, { stream: true })),
        }, new AbortController().signal).finally(() => {
          emit("stdout", out.decode());
          emit("stderr", err.decode());
        });
      });
      if (json) ctx.io.out(`${JSON.stringify(result)}\n`);
      else for (const line of notes(result)) ctx.io.err(`${line}\n`);
      ctx.setExitCode(result.exit_code);
    });
}

/**
 * How many of the command's words came before `--` on the command line
 * (commander drops the `--` itself): the node, in `pact exec n1 -- ls`.
 */
function wordsBeforeDashes(words: readonly string[], rawArgs: readonly string[]): number {
  const dashes = rawArgs.indexOf("--");
  if (dashes < 0) return 0;
  return Math.max(0, words.length - (rawArgs.length - dashes - 1));
}

/** Runs `body` with a client for the node's agent; exit 2 without a token. */
async function withExecApi<T>(
  ctx: CliContext,
  node: string,
  flags: ExecFlags,
  body: (api: ExecApi) => Promise<T>,
): Promise<T> {
  const { endpoint } = agentEndpoint(node, flags.agent, ctx.env("PACT_AGENT_ENDPOINT"));
  return await withAgentAt(ctx, endpoint, body, node);
}

/** Fleet mode: the command on every node of `vcluster`; returns the exit code. */
async function fleetExec(
  ctx: CliContext,
  vcluster: string,
  request: ReturnType<typeof execRequest>,
  flags: ExecFlags,
): Promise<number> {
  const fanout = await import("../ops/fanout.ts");
  const settings = await ctx.settings();
  const token = await ctx.token();
  const { EnrollmentClient } = await import("../client/enrollment_client.ts");
  const registry = new EnrollmentClient({
    endpoint: settings.endpoint,
    token,
    timeoutSeconds: settings.timeoutSeconds,
  });
  let targets;
  try {
    targets = await fanout.fleetTargets(registry, vcluster);
  } finally {
    registry.close();
  }
  const options = fanout.fanoutOptionsOf(flags);
  const nodeTimeoutMs = flags.nodeTimeout === undefined
    ? ((request.timeoutSeconds || 300) + 30) * 1000
    : options.nodeTimeoutMs;
  const result = await fanout.fanOut(
    targets,
    (target, signal) =>
      withAgentAt(
        ctx,
        target.endpoint,
        (api) => collectExec(api, target.node, request, signal),
        target.node,
      ),
    { ...options, nodeTimeoutMs },
  );
  const json = settings.output === "json";
  const ok = result.outcomes.flatMap((o) =>
    o.status === "ok" ? [{ node: o.node, view: o.value }] : []
  );
  if (json) {
    for (const o of result.outcomes) {
      ctx.io.out(
        `${
          JSON.stringify(
            fanout.outcomeJson(o, (view) => ({
              ...view.result,
              stdout: view.output,
              stderr: view.stderr,
            })),
          )
        }\n`,
      );
    }
  } else {
    const texts = ok.map(({ node, view }) => ({
      node,
      output: fleetText(view.output, view.stderr, view.result),
    }));
    ctx.io.out(
      flags.prefix
        ? texts.map((t) => fanout.prefixLines(t.node, t.output)).join("")
        : fanout.renderGroups(fanout.groupByOutput(texts)),
    );
    for (const line of fanout.problemLines(result, options.maxFailures)) ctx.io.err(`${line}\n`);
    ctx.io.err(`${fanout.summaryLine(result)}\n`);
  }
  const fleetCode = fanout.fleetExitCode(result);
  const failedCommand = ok.some(({ view }) => view.result.exit_code !== 0);
  return fleetCode !== 0 ? fleetCode : failedCommand ? 1 : 0;
}

function fleetText(stdout: string, stderr: string, result: ExecResultView): string {
  const body = stdout + stderr;
  const tail = notes(result).map((line) => `${line}\n`).join("");
  return body === "" || body.endsWith("\n") ? body + tail : `${body}\n${tail}`;
}

function timeoutOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const seconds = Number(text);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > EXEC_TIMEOUT_MAX_SECONDS) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Invalid --timeout ${
        JSON.stringify(text)
      }: expected whole seconds from 1 to ${EXEC_TIMEOUT_MAX_SECONDS}`,
    );
  }
  return seconds;
}

function outputLimitOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const bytes = Number(text);
  if (!/^\d+$/.test(text) || bytes < 1 || bytes > 10 * 1024 * 1024) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Invalid --output-limit ${JSON.stringify(text)}: expected bytes from 1 to 10485760`,
    );
  }
  return bytes;
}

function renderList(view: CommandListView): string {
  const header =
    `Node ${view.node}: ${view.commands.length} commands (whitelist mode ${view.mode})\n`;
  const rows = view.commands.map((c) => [
    c.command,
    c.state_changing ? "state-changing" : "read-only",
    c.description,
  ]);
  return header + renderTable(["COMMAND", "KIND", "DESCRIPTION"], rows);
}
