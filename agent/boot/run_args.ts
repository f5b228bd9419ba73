/** The boot runner's command line, parsed without Deno.args so that tests can call it. */
import type { AgentFlags } from "../config.ts";

/** What the runner was asked to do. */
export interface RunArgs {
  readonly flags: AgentFlags;
  readonly readyPath: string | undefined;
  readonly stateDir: string | undefined;
  readonly journalWaitMs: number | undefined;
  readonly tokenFile: string | undefined;
}

/** The help text. */
export const USAGE = `Usage: run_boot.ts --config <agent.toml> [options]

Boots the node (load config, identity, pull config, apply, start services,
capability report, readiness) and keeps its services running until SIGTERM.

  -c, --config <path>        agent config file (env PACT_AGENT_CONFIG)
  --node-id <id>             this node's id (env PACT_AGENT_NODE_ID)
  --vcluster <name>          static vCluster (env PACT_AGENT_VCLUSTER)
  --ready-file <path>        readiness file, a node path (default /run/pact/ready)
  --state-dir <path>         where the config cache is kept, a node path (default /var/lib/pact)
  --journal-wait-ms <ms>     how long to look for a journal before using the cache (default 5000)
  --token-file <path>        the agent's pact-service-agent token (env PACT_AGENT_TOKEN[_FILE])
  -h, --help                 show this help`;

const VALUED = new Set([
  "-c",
  "--config",
  "--node-id",
  "--vcluster",
  "--ready-file",
  "--state-dir",
  "--journal-wait-ms",
  "--token-file",
]);

/** The parsed arguments, USAGE for --help, or a one-line error. */
export function parseRunArgs(args: readonly string[]): RunArgs | string {
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "-h" || arg === "--help") return USAGE;
    const eq = arg.indexOf("=");
    const name = eq > 0 && arg.startsWith("--") ? arg.slice(0, eq) : arg;
    if (!VALUED.has(name)) return `unknown argument ${JSON.stringify(arg)}`;
    const value = eq > 0 && arg.startsWith("--") ? arg.slice(eq + 1) : args[++i];
    if (value === undefined || value === "") return `${name} needs a value`;
    values.set(name === "-c" ? "--config" : name, value);
  }
  const wait = values.get("--journal-wait-ms");
  const waitMs = wait === undefined ? undefined : Number(wait);
  if (waitMs !== undefined && !(Number.isInteger(waitMs) && waitMs >= 0)) {
    return `--journal-wait-ms must be a whole number of milliseconds, got ${JSON.stringify(wait)}`;
  }
  for (const key of ["--ready-file", "--state-dir"]) {
    const path = values.get(key);
    if (path !== undefined && !path.startsWith("/")) {
      return `${key} must be an absolute path, got ${JSON.stringify(path)}`;
    }
  }
  return {
    flags: {
      config: values.get("--config"),
      nodeId: values.get("--node-id"),
      vcluster: values.get("--vcluster"),
    },
    readyPath: values.get("--ready-file"),
    stateDir: values.get("--state-dir"),
    journalWaitMs: waitMs,
    tokenFile: values.get("--token-file"),
  };
}
