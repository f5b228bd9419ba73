import { Command, Option } from "@commander-js/extra-typings";
import type { CliContext } from "../context.ts";
import { agentEndpoint } from "../ops/service.ts";
import { withAgentAt } from "./agent_target.ts";
import {
  fetchRecording,
  type LocalTerminal,
  parseCast,
  parseSpeed,
  replayCast,
  runShell,
  type ShellApi,
} from "../ops/shell.ts";

const SHELL_HELP = `
An interactive, restricted shell on the node, instead of SSH: the agent
starts /bin/rbash on a pseudo-terminal whose PATH holds only the
whitelisted commands (no absolute paths, no output redirection, no cd).
It needs pact-platform-admin or pact-ops-<vcluster> of the node's vCluster
(a higher privilege than pact exec: viewers are refused). Every command is
journaled with the session id and your identity, and the whole session is
recorded (asciicast v2): replay it with pact shell replay. At most 10
sessions run at once on a node. pact exits with the remote shell's exit
code. Input may also come from a pipe: the end of the input ends the session.

The agent answers on port 9445: pact calls http://<node>:9445 unless --agent
or PACT_AGENT_ENDPOINT names another address.

Examples:
  pact shell node042
  printf 'uptime\\nexit\\n' | pact shell node042
  pact shell replay 6f1c0e4a-2b7d-4c1e-9a35-0d7e8f9a1b2c --node node042
  pact shell replay 6f1c0e4a-2b7d-4c1e-9a35-0d7e8f9a1b2c --node node042 --speed 4
`;

const REPLAY_HELP = `
Prints a recorded shell session with its original timing (pauses longer
than 2 s are shortened). Access is the same as for pact shell.

Examples:
  pact shell replay 6f1c0e4a-2b7d-4c1e-9a35-0d7e8f9a1b2c --node node042
  pact shell replay <session> --node node042 --no-delay
  pact shell replay <session> --node node042 --raw > session.cast   # asciinema play session.cast
`;

/** `pact shell <node>` and `pact shell replay <session>`. */
export function shellCommand(ctx: CliContext) {
  const shell = new Command("shell")
    .description("Open a restricted, recorded interactive shell on a node")
    .argument("<node>", "the node, e.g. node042")
    .addOption(
      new Option("--agent <host:port>", "the agent's address (default http://<node>:9445)"),
    )
    .addHelpText("after", SHELL_HELP)
    .action(async (node, options) => {
      const result = await withShellApi(
        ctx,
        node,
        options.agent,
        (api, name) => runShell(api, denoTerminal(localTerm(ctx)), name),
      );
      if (!result.session_id) return ctx.setExitCode(result.exit_code);
      ctx.io.err(
        `pact: session ${result.session_id} ended (exit ${result.exit_code}); replay: pact shell replay ${result.session_id} --node ${result.node}\n`,
      );
      ctx.setExitCode(result.exit_code);
    });
  shell.addCommand(
    new Command("replay")
      .description("Replay a recorded shell session")
      .argument("<session>", "the session id pact shell printed")
      .option("--node <node>", "the node the session ran on")
      .addOption(new Option("--agent <host:port>", "the agent's address"))
      .option("--speed <factor>", "playback speed, e.g. 2 for twice as fast (default 1)")
      .option("--no-delay", "print everything at once")
      .option("--raw", "print the asciicast v2 file itself")
      .addHelpText("after", REPLAY_HELP)
      .action(async (session, options) => {
        const speed = parseSpeed(options.speed);
        // Commander hands `--agent` to the parent command wherever it is written.
        const agent = options.agent ?? shell.opts().agent;
        await withShellApi(ctx, options.node, agent, async (api) => {
          const bytes = await fetchRecording(api, session);
          const text = new TextDecoder().decode(bytes);
          if (options.raw) return ctx.io.out(text);
          const { header, events } = parseCast(text);
          if ((await ctx.settings()).output === "json") {
            return ctx.io.out(`${JSON.stringify({ session_id: session, header, events })}\n`);
          }
          if (header.title) ctx.io.err(`pact: replaying ${header.title}\n`);
          await replayCast(events, { speed, delay: options.delay }, (data) => ctx.io.out(data));
        });
      })
      .configureOutput({ writeOut: (t) => ctx.io.out(t), writeErr: (t) => ctx.io.err(t) })
      .showHelpAfterError("(run pact shell replay --help for usage)")
      .exitOverride(),
  );
  return shell;
}

/** Runs `body` with a client for the node's agent; exit 2 without a token. */
async function withShellApi<T>(
  ctx: CliContext,
  node: string | undefined,
  agent: string | undefined,
  body: (api: ShellApi, node: string) => Promise<T>,
): Promise<T> {
  const target = agentEndpoint(node, agent, ctx.env("PACT_AGENT_ENDPOINT"));
  return await withAgentAt(ctx, target.endpoint, (api) => body(api, target.node), target.node);
}

/** The local TERM when the CLI may read it (bin/pact does not allow it yet), else undefined. */
function localTerm(ctx: CliContext): string | undefined {
  const allowed = Deno.permissions.querySync({ name: "env", variable: "TERM" }).state === "granted";
  return allowed ? ctx.env("TERM") : undefined;
}

/** The process's own terminal: raw mode, size and SIGWINCH when stdin is a TTY. */
function denoTerminal(term: string | undefined): LocalTerminal {
  const interactive = Deno.stdin.isTerminal();
  const write = (bytes: Uint8Array) => {
    let rest = bytes;
    while (rest.length > 0) rest = rest.subarray(Deno.stdout.writeSync(rest));
  };
  return {
    interactive,
    term: term || "xterm-256color",
    size() {
      try {
        const { rows, columns } = Deno.consoleSize();
        return { rows, cols: columns };
      } catch {
        return undefined;
      }
    },
    setRaw: (raw) => Deno.stdin.setRaw(raw),
    onResize(listener) {
      Deno.addSignalListener("SIGWINCH", listener);
      return () => Deno.removeSignalListener("SIGWINCH", listener);
    },
    input: () => Deno.stdin.readable,
    output: write,
    notice: (text) => {
      // In raw mode a newline does not return the carriage.
      Deno.stderr.writeSync(new TextEncoder().encode(`${text}\r\n`));
    },
  };
}
