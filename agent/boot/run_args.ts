/** The boot runner's command line, parsed without Deno.args so that tests can call it. */
import type { AgentFlags } from "../config.ts";

/** What the runner was asked to do. */
export interface RunArgs {
  readonly flags: AgentFlags;
  readonly readyPath: string | undefined;
  readonly stateDir: string | undefined;
  readonly journalWaitMs: number | undefined;
  readonly tokenFile: string | undefined;
  /** The hardware watchdog device used as PID 1; undefined: none. */
  readonly watchdogDevice: string | undefined;
  readonly watchdogTimeoutSeconds: number | undefined;
}

/** The watchdog opened as PID 1 when it exists, unless --watchdog none. */
export const DEFAULT_WATCHDOG_DEVICE = "/dev/watchdog";

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
  --watchdog <path|none>     hardware watchdog petted as PID 1 (default /dev/watchdog, if present)
  --watchdog-timeout <s>     ask the watchdog for this timeout (default: the device's own)
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
  "--watchdog",
  "--watchdog-timeout",
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
  const timeout = values.get("--watchdog-timeout");
  const timeoutSeconds = timeout === undefined ? undefined : Number(timeout);
  if (timeoutSeconds !== undefined && !(Number.isInteger(timeoutSeconds) && timeoutSeconds >= 2)) {
    return `--watchdog-timeout must be a whole number of seconds, at least 2, got ${
      JSON.stringify(timeout)
    }`;
  }
  const watchdog = values.get("--watchdog") ?? DEFAULT_WATCHDOG_DEVICE;
  if (watchdog !== "none" && !watchdog.startsWith("/")) {
    return `--watchdog must be an absolute path or none, got ${JSON.stringify(watchdog)}`;
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
    watchdogDevice: watchdog === "none" ? undefined : watchdog,
    watchdogTimeoutSeconds: timeoutSeconds,
  };
}
