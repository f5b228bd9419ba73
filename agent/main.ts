/**
 * pact-agent: the node agent (PID 1 or systemd service). This build has the
 * entry point and its command line only; the agent's capabilities (boot
 * sequence, supervisor, observers, drift, shell/exec) are not built yet.
 */
import { Command, CommanderError } from "@commander-js/extra-typings";
import { PACT_VERSION } from "../shared/version.ts";

function program() {
  return new Command("pact-agent")
    .description(
      "The pact node agent: init, supervisor, drift observer and admin-operations server.",
    )
    .version(PACT_VERSION, "-V, --version", "print the version and exit")
    .helpOption("-h, --help", "show this help")
    .option(
      "-c, --config <path>",
      "agent config file (env PACT_AGENT_CONFIG; default /etc/pact/agent.toml)",
    )
    .option("--node-id <id>", "this node's id (env PACT_AGENT_NODE_ID)")
    .option("--vcluster <name>", "static vCluster (env PACT_AGENT_VCLUSTER)")
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
    "pact-agent: not available in this build yet: only the journal and the CLI are implemented",
  );
  Deno.exit(1);
}
