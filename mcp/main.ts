/**
 * pact-mcp: the MCP server for AI tooling. This build has the entry point
 * and its command line only; the tools are not built yet.
 */
import { Command, CommanderError } from "@commander-js/extra-typings";
import { PACT_VERSION } from "../shared/version.ts";

function program() {
  return new Command("pact-mcp")
    .description("The pact MCP server: pact operations as tools for AI agents (stdio or HTTP).")
    .version(PACT_VERSION, "-V, --version", "print the version and exit")
    .helpOption("-h, --help", "show this help")
    .exitOverride();
}

if (import.meta.main) {
  try {
    program().parse(Deno.args, { from: "user" });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    Deno.exit(err.exitCode);
  }
  console.error(
    "pact-mcp: not available in this build yet: only the journal and the CLI are implemented",
  );
  Deno.exit(1);
}
