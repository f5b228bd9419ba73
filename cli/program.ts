import { Command, CommanderError, Option } from "@commander-js/extra-typings";
import { ExitCode, exitCodeFor, isPactError } from "../shared/errors/mod.ts";
import { PACT_VERSION } from "../shared/version.ts";
import { clusterCommand } from "./commands/cluster.ts";
import { applyCommand } from "./commands/apply.ts";
import { approveCommand } from "./commands/approve.ts";
import { groupCommand } from "./commands/group.ts";
import { commitCommand } from "./commands/commit.ts";
import { completionsCommand } from "./commands/completions.ts";
import { execCommand } from "./commands/exec.ts";
import { diagCommand } from "./commands/diag.ts";
import { logCommand } from "./commands/log.ts";
import { loginCommand, logoutCommand } from "./commands/login.ts";
import { enrollCommand, nodeCommand } from "./commands/node.ts";
import { serviceCommand } from "./commands/service.ts";
import { shellCommand } from "./commands/shell.ts";
import { statusCommand } from "./commands/status.ts";
import { watchCommand } from "./commands/watch.ts";
import { blacklistCommand } from "./commands/blacklist.ts";
import { capCommand } from "./commands/cap.ts";
import { diffCommand } from "./commands/diff.ts";
import { emergencyCommand } from "./commands/emergency.ts";
import { extendCommand } from "./commands/extend.ts";
import { promoteCommand } from "./commands/promote.ts";
import { rollbackCommand } from "./commands/rollback.ts";
import { CliContext, type Io } from "./context.ts";
import type { SettingsSources } from "./settings.ts";

const ROOT_HELP_FOOTER = `
Environment:
  PACT_ENDPOINT   journal endpoint         PACT_TOKEN   bearer token
  PACT_VCLUSTER   default vCluster         PACT_OUTPUT  text or json
  Settings also come from ~/.config/pact/cli.toml; flags win over the
  environment, which wins over the file.

Exit codes:
  0 success   1 general error   2 authentication/authorization   3 policy rejection
  4 conflict  5 journal unreachable or timeout   6 command not whitelisted
  10 rollback failed (active consumers)
`;

/** Builds the `pact` command tree around `ctx`. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command("pact")
    .description(
      "pact: promise-based configuration management and admin operations for HPC/AI clusters.\n" +
        "Every operation is authenticated, authorized and recorded in the journal.",
    )
    .version(PACT_VERSION, "-V, --version", "print the version and exit")
    .helpOption("-h, --help", "show help for a command")
    .helpCommand(false)
    .showHelpAfterError("(run pact --help for usage)")
    .option("--endpoint <url>", "journal endpoint, e.g. http://journal-1:9443")
    .option(
      "--token <token>",
      "bearer token (default: PACT_TOKEN, ~/.config/pact/token, then pact login's cache)",
    )
    .option("--vcluster <name>", "vCluster to act on by default")
    .addOption(new Option("-o, --output <format>", "output format").choices(["text", "json"]))
    .option("--json", "same as --output json")
    .option("--timeout <seconds>", "how long to wait for the journal (default 30)")
    .addHelpText("after", ROOT_HELP_FOOTER)
    .configureOutput({ writeOut: (text) => ctx.io.out(text), writeErr: (text) => ctx.io.err(text) })
    .exitOverride();
  const commands = [
    statusCommand(ctx),
    logCommand(ctx),
    watchCommand(ctx),
    commitCommand(ctx),
    diffCommand(ctx),
    rollbackCommand(ctx),
    extendCommand(ctx),
    emergencyCommand(ctx),
    promoteCommand(ctx),
    blacklistCommand(ctx),
    applyCommand(ctx),
    clusterCommand(ctx),
    groupCommand(ctx),
    approveCommand(ctx),
    enrollCommand(ctx),
    nodeCommand(ctx),
    serviceCommand(ctx),
    execCommand(ctx),
    diagCommand(ctx),
    capCommand(ctx),
    shellCommand(ctx),
    loginCommand(ctx),
    logoutCommand(ctx),
    completionsCommand(ctx, () => program as unknown as Command),
  ];
  for (const command of commands) {
    program.addCommand(
      command
        .configureOutput({
          writeOut: (text) => ctx.io.out(text),
          writeErr: (text) => ctx.io.err(text),
        })
        .showHelpAfterError(`(run pact ${command.name()} --help for usage)`)
        .exitOverride() as unknown as Command,
    );
  }
  return program as unknown as Command;
}

/** Runs the CLI on `args` and returns the process exit code. */
export async function runCli(args: string[], sources: SettingsSources, io: Io): Promise<number> {
  // The context reads the global flags lazily, once commander has parsed them.
  const ctx = new CliContext(() => program.opts(), sources, io);
  const program = buildProgram(ctx);
  try {
    await program.parseAsync(args, { from: "user" });
    return ctx.exitCode || ExitCode.SUCCESS;
  } catch (err) {
    return await reportError(ctx, err);
  } finally {
    ctx.close();
  }
}

async function reportError(ctx: CliContext, err: unknown): Promise<number> {
  if (err instanceof CommanderError) {
    // Commander has already printed help, the version or a usage error.
    return err.exitCode === 0 ? ExitCode.SUCCESS : ExitCode.GENERAL;
  }
  const code = isPactError(err) ? exitCodeFor(err.code) : ExitCode.GENERAL;
  const message = isPactError(err)
    ? err.message
    : `Unexpected error: ${(err as Error)?.stack ?? err}`;
  let json = false;
  try {
    json = (await ctx.settings()).output === "json";
  } catch {
    // The settings themselves are broken; report in text.
  }
  if (json) {
    const errorCode = isPactError(err) ? err.code : "INTERNAL";
    ctx.io.err(`${JSON.stringify({ error: { code: errorCode, message, exit_code: code } })}\n`);
  } else {
    ctx.io.err(`pact: ${message}\n`);
  }
  return code;
}
