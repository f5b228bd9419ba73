import { Argument, Command } from "@commander-js/extra-typings";
import type { CliContext } from "../context.ts";
import { completionScript, type Shell } from "../output/completion_scripts.ts";

/** `pact completions bash|zsh|fish`: a completion script generated from the command tree. */
export function completionsCommand(ctx: CliContext, root: () => Command) {
  return new Command("completions")
    .description("Print a shell completion script (bash, zsh or fish)")
    .addArgument(
      new Argument("<shell>", "the shell to complete for").choices(
        ["bash", "zsh", "fish"] as const,
      ),
    )
    .addHelpText(
      "after",
      "\nInstall:\n  bash:  pact completions bash > /etc/bash_completion.d/pact\n" +
        '  zsh:   pact completions zsh > "${fpath[1]}/_pact"\n' +
        "  fish:  pact completions fish > ~/.config/fish/completions/pact.fish\n",
    )
    .action((shell: Shell) => {
      ctx.io.out(completionScript(shell, root()));
    });
}
