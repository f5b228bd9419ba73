/**
 * agent.toml and its overrides, merged once into a checked AgentConfig.
 * Precedence: flags > PACT_AGENT_* environment > agent.toml > defaults.
 */
import { PactError } from "../shared/errors/mod.ts";
import { type HostPort, parseHostPort } from "../shared/config/listen_address.ts";
import { parseToml, TomlReader } from "../shared/config/toml_file.ts";
import { checkKnownKeys, type KeySchema } from "./config_keys.ts";

/** How the agent treats drift (reference §2.4, D5). */
export type EnforcementMode = "observe" | "warn" | "enforce";
/** Which process supervisor runs the node's services. */
export type SupervisorBackend = "pact" | "systemd";
/** How the shell treats commands outside the whitelist. */
export type WhitelistMode = "strict" | "learning" | "bypass";

/** Flags of `pact-agent`, as parsed from the command line. */
export interface AgentFlags {
  readonly config?: string | undefined;
  readonly nodeId?: string | undefined;
  readonly vcluster?: string | undefined;
}

/** Commit-window parameters (`[agent.commit_window]`). */
export interface CommitWindowSettings {
  readonly baseWindowSeconds: number;
  readonly driftSensitivity: number;
  readonly emergencyWindowSeconds: number;
  /** Shortest window the formula may give (reference: 60 s). */
  readonly minWindowSeconds: number;
}

/** Observer switches and periods (`[agent.observer]`). */
export interface ObserverSettings {
  readonly ebpfEnabled: boolean;
  readonly inotifyEnabled: boolean;
  readonly netlinkEnabled: boolean;
  /** Period of the sysctl/mount/module probes. */
  readonly probeIntervalMs: number;
  /** Period of the file hash sweep, the backstop for missed inotify events. */
  readonly hashSweepIntervalMs: number;
  /** Paths watched besides those the declared state names. */
  readonly watchPaths: readonly string[];
}

/**
 * TLS of the shell server (`[agent.shell] tls`): `auto` serves TLS with the
 * enrolled certificate (or `tls_cert_path`/`tls_key_path`) when there is
 * one and plaintext otherwise; `required` does not start the shell without
 * a certificate; `off` always serves plaintext (development, tests).
 */
export type ShellTlsMode = "auto" | "required" | "off";

/** Admin-token validation by the shell server (`[agent.shell.auth]`). */
export interface ShellAuthSettings {
  readonly issuer: string;
  readonly audience: string;
  readonly jwksUrl: string;
  readonly hmacSecret: string | undefined;
}

/** Everything pact-agent runs with. */
export interface AgentConfig {
  readonly configPath: string;
  readonly nodeId: string;
  readonly vcluster: string | undefined;
  readonly enforcementMode: EnforcementMode;
  readonly supervisorBackend: SupervisorBackend;
  readonly journal: {
    readonly endpoints: readonly HostPort[];
    /** mTLS files; undefined when `tls_enabled` is false. */
    readonly tls: { readonly cert: string; readonly key: string; readonly ca: string } | undefined;
  };
  readonly observer: ObserverSettings;
  readonly shell: {
    readonly enabled: boolean;
    readonly listen: HostPort;
    readonly whitelistMode: WhitelistMode;
    /** Undefined: no `[agent.shell.auth]`, so no token validates (fail closed). */
    readonly auth: ShellAuthSettings | undefined;
    readonly tls: ShellTlsMode;
    /** Explicit certificate and key files (PEM); undefined: the enrolled certificate. */
    readonly tlsFiles: { readonly cert: string; readonly key: string } | undefined;
  };
  readonly commitWindow: CommitWindowSettings;
  readonly blacklist: readonly string[];
  readonly identity: { readonly provider: string; readonly spireSocket: string };
  readonly capability: {
    readonly manifestPath: string;
    readonly socketPath: string;
    readonly gpuPollIntervalSeconds: number;
  };
  readonly enrollment: {
    readonly journalEndpoints: readonly HostPort[];
    readonly caCert: string | undefined;
    readonly certDir: string;
    /** Unset: renew at 2/3 of the lifetime (agent/identity/renewal.ts). */
    readonly renewalBeforeExpirySeconds: number | undefined;
  } | undefined;
  /** Root of the host the agent manages: `/`, or a sandbox directory in tests and demos. */
  readonly hostRoot: string;
  readonly log: { readonly level: string; readonly format: "text" | "json" };
}

/** Reads one environment variable; injected so that tests need no real environment. */
export type EnvReader = (name: string) => string | undefined;

export const DEFAULT_AGENT_CONFIG_PATH = "/etc/pact/agent.toml";
/** Default drift exclusions (reference D1 plus the production additions). */
export const DEFAULT_BLACKLIST: readonly string[] = [
  "/tmp/**",
  "/var/log/**",
  "/proc/**",
  "/sys/**",
  "/dev/**",
  "/run/user/**",
];

const SCHEMA: KeySchema = {
  "": [],
  agent: ["node_id", "vcluster", "enforcement_mode"],
  "agent.supervisor": ["backend"],
  "agent.journal": ["endpoints", "tls_enabled", "tls_cert", "tls_key", "tls_ca"],
  "agent.observer": [
    "ebpf_enabled",
    "inotify_enabled",
    "netlink_enabled",
    "probe_interval_seconds",
    "hash_sweep_interval_seconds",
    "watch_paths",
  ],
  "agent.shell": ["enabled", "listen", "whitelist_mode", "tls", "tls_cert_path", "tls_key_path"],
  "agent.shell.auth": ["issuer", "audience", "jwks_url", "hmac_secret"],
  "agent.commit_window": [
    "base_window_seconds",
    "drift_sensitivity",
    "emergency_window_seconds",
    "min_window_seconds",
  ],
  "agent.blacklist": ["patterns"],
  "agent.identity": ["provider", "spire_socket"],
  "agent.capability": ["manifest_path", "socket_path", "gpu_poll_interval_seconds"],
  "agent.enrollment": [
    "journal_endpoints",
    "ca_cert",
    "cert_dir",
    "renewal_before_expiry_seconds",
  ],
  "agent.host": ["root"],
  telemetry: ["log_level", "log_format"],
};

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Path of the config file: `--config`, else PACT_AGENT_CONFIG, else the default. */
export function agentConfigPathOf(
  flags: AgentFlags,
  env: EnvReader,
): { path: string; explicit: boolean } {
  const explicit = flags.config ?? (env("PACT_AGENT_CONFIG") || undefined);
  return { path: explicit ?? DEFAULT_AGENT_CONFIG_PATH, explicit: explicit !== undefined };
}

/**
 * Reads agent.toml (a missing default file is fine, a missing explicit one
 * is not) and merges it with flags and environment. `hostname` is the
 * node id of last resort, as OpenCHAMI sets it during PXE boot.
 */
export async function resolveAgentConfig(
  flags: AgentFlags,
  env: EnvReader,
  hostname: () => string | undefined = () => undefined,
): Promise<AgentConfig> {
  const { path, explicit } = agentConfigPathOf(flags, env);
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (explicit || !(err instanceof Deno.errors.NotFound)) {
      const reason = err instanceof Deno.errors.NotFound
        ? "file not found"
        : err instanceof Deno.errors.PermissionDenied
        ? "permission denied"
        : (err as Error).message;
      throw new PactError("CONFIG", `Cannot read ${path}: ${reason}`);
    }
  }
  return parseAgentConfig(text, path, flags, env, hostname);
}

/** The pure half of `resolveAgentConfig`: TOML text in, checked config out. */
export function parseAgentConfig(
  text: string,
  source: string,
  flags: AgentFlags,
  env: EnvReader,
  hostname: () => string | undefined = () => undefined,
): AgentConfig {
  const doc = parseToml(text, source);
  checkKnownKeys(doc, SCHEMA, text, source);
  const toml = new TomlReader(doc, source);
  const envOf = (name: string) => env(name) || undefined;

  const nodeId = flags.nodeId ?? envOf("PACT_AGENT_NODE_ID") ??
    toml.string("agent", "node_id") ?? hostname();
  if (nodeId === undefined || nodeId === "") {
    throw new PactError(
      "CONFIG",
      "No node id: set --node-id, PACT_AGENT_NODE_ID or [agent] node_id (the hostname is unknown)",
    );
  }
  if (!NODE_ID.test(nodeId)) {
    throw new PactError(
      "CONFIG",
      `Invalid node id ${JSON.stringify(nodeId)} (letters, digits, '.', '_' and '-', at most 63)`,
    );
  }
  const endpointsText = envOf("PACT_AGENT_JOURNAL_ENDPOINTS");
  const endpoints = (endpointsText?.split(",").map((s) => s.trim()).filter((s) => s !== "") ??
    toml.strings("agent.journal", "endpoints") ?? [])
    .map((e) => parseHostPort(e, "journal endpoint"));
  const commitWindow = commitWindowOf(toml);
  return {
    configPath: source,
    nodeId,
    vcluster: flags.vcluster ?? envOf("PACT_AGENT_VCLUSTER") ?? toml.string("agent", "vcluster"),
    enforcementMode: oneOf(
      envOf("PACT_AGENT_ENFORCEMENT_MODE") ?? toml.string("agent", "enforcement_mode") ?? "observe",
      ["observe", "warn", "enforce"] as const,
      "[agent] enforcement_mode",
    ),
    supervisorBackend: oneOf(
      (envOf("PACT_AGENT_SUPERVISOR_BACKEND") ?? toml.string("agent.supervisor", "backend") ??
        "pact").toLowerCase(),
      ["pact", "systemd"] as const,
      "[agent.supervisor] backend",
    ),
    journal: { endpoints, tls: journalTlsOf(toml) },
    observer: observerOf(toml),
    shell: {
      enabled: toml.boolean("agent.shell", "enabled") ?? true,
      listen: parseHostPort(
        toml.string("agent.shell", "listen") ?? "0.0.0.0:9445",
        "[agent.shell] listen",
      ),
      whitelistMode: oneOf(
        toml.string("agent.shell", "whitelist_mode") ?? "learning",
        ["strict", "learning", "bypass"] as const,
        "[agent.shell] whitelist_mode",
      ),
      auth: shellAuthOf(toml),
      tls: oneOf(
        toml.string("agent.shell", "tls") ?? "auto",
        ["auto", "required", "off"] as const,
        "[agent.shell] tls",
      ),
      tlsFiles: shellTlsFilesOf(toml),
    },
    commitWindow,
    blacklist: blacklistOf(toml),
    identity: {
      provider: toml.string("agent.identity", "provider") ?? "spire",
      spireSocket: toml.string("agent.identity", "spire_socket") ?? "/run/spire/agent.sock",
    },
    capability: {
      manifestPath: toml.string("agent.capability", "manifest_path") ??
        "/run/pact/capability.json",
      socketPath: toml.string("agent.capability", "socket_path") ?? "/run/pact/capability.sock",
      gpuPollIntervalSeconds: positive(
        toml.integer("agent.capability", "gpu_poll_interval_seconds") ?? 30,
        "[agent.capability] gpu_poll_interval_seconds",
      ),
    },
    enrollment: enrollmentOf(toml),
    hostRoot: envOf("PACT_AGENT_HOST_ROOT") ?? toml.string("agent.host", "root") ?? "/",
    log: {
      level: oneOf(
        (envOf("PACT_LOG_LEVEL") ?? toml.string("telemetry", "log_level") ?? "info").toLowerCase(),
        ["debug", "info", "warn", "error"] as const,
        "log level",
      ),
      format: oneOf(
        envOf("PACT_LOG_FORMAT") ?? toml.string("telemetry", "log_format") ?? "text",
        ["text", "json"] as const,
        "log format",
      ),
    },
  };
}

function commitWindowOf(toml: TomlReader): CommitWindowSettings {
  const table = "agent.commit_window";
  const base = positive(
    toml.integer(table, "base_window_seconds") ?? 900,
    `[${table}] base_window_seconds`,
  );
  const sensitivity = toml.number(table, "drift_sensitivity") ?? 2.0;
  if (!(sensitivity >= 0) || !Number.isFinite(sensitivity)) {
    throw new PactError(
      "CONFIG",
      `[${table}] drift_sensitivity must be 0 or more: got ${sensitivity}`,
    );
  }
  const min = positive(
    toml.integer(table, "min_window_seconds") ?? 60,
    `[${table}] min_window_seconds`,
  );
  if (min > base) {
    throw new PactError(
      "CONFIG",
      `[${table}] min_window_seconds (${min}) must not exceed base_window_seconds (${base})`,
    );
  }
  return {
    baseWindowSeconds: base,
    driftSensitivity: sensitivity,
    emergencyWindowSeconds: positive(
      toml.integer(table, "emergency_window_seconds") ?? 14_400,
      `[${table}] emergency_window_seconds`,
    ),
    minWindowSeconds: min,
  };
}

function observerOf(toml: TomlReader): ObserverSettings {
  const table = "agent.observer";
  const watchPaths = toml.strings(table, "watch_paths") ?? [];
  for (const path of watchPaths) absolutePath(path, `[${table}] watch_paths`);
  return {
    ebpfEnabled: toml.boolean(table, "ebpf_enabled") ?? false,
    inotifyEnabled: toml.boolean(table, "inotify_enabled") ?? true,
    netlinkEnabled: toml.boolean(table, "netlink_enabled") ?? true,
    probeIntervalMs: 1000 * positive(
      toml.number(table, "probe_interval_seconds") ?? 10,
      `[${table}] probe_interval_seconds`,
    ),
    hashSweepIntervalMs: 1000 * positive(
      toml.number(table, "hash_sweep_interval_seconds") ?? 60,
      `[${table}] hash_sweep_interval_seconds`,
    ),
    watchPaths,
  };
}

function journalTlsOf(toml: TomlReader): AgentConfig["journal"]["tls"] {
  const table = "agent.journal";
  const cert = toml.string(table, "tls_cert");
  const key = toml.string(table, "tls_key");
  const ca = toml.string(table, "tls_ca");
  if (!(toml.boolean(table, "tls_enabled") ?? false)) return undefined;
  const missing = [["tls_cert", cert], ["tls_key", key], ["tls_ca", ca]]
    .filter(([, value]) => value === undefined || value === "").map(([name]) => name);
  if (missing.length > 0 || cert === undefined || key === undefined || ca === undefined) {
    throw new PactError(
      "CONFIG",
      `[${table}] tls_enabled = true needs tls_cert, tls_key and tls_ca: ${
        missing.join(", ")
      } missing`,
    );
  }
  return { cert, key, ca };
}

/** `tls_cert_path` and `tls_key_path`: both or neither. */
function shellTlsFilesOf(
  toml: TomlReader,
): { readonly cert: string; readonly key: string } | undefined {
  const cert = toml.string("agent.shell", "tls_cert_path");
  const key = toml.string("agent.shell", "tls_key_path");
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) {
    throw new PactError(
      "CONFIG",
      `[agent.shell] ${cert === undefined ? "tls_key_path" : "tls_cert_path"} is set without ${
        cert === undefined ? "tls_cert_path" : "tls_key_path"
      }: set both or neither`,
    );
  }
  return { cert, key };
}

function shellAuthOf(toml: TomlReader): ShellAuthSettings | undefined {
  const table = "agent.shell.auth";
  if (toml.table(table) === undefined) return undefined;
  const issuer = toml.string(table, "issuer");
  const audience = toml.string(table, "audience");
  if (!issuer || !audience) {
    throw new PactError("CONFIG", `[${table}] needs issuer and audience`);
  }
  return {
    issuer,
    audience,
    jwksUrl: toml.string(table, "jwks_url") ??
      `${issuer.replace(/\/+$/, "")}/.well-known/jwks.json`,
    hmacSecret: toml.string(table, "hmac_secret") || undefined,
  };
}

function blacklistOf(toml: TomlReader): readonly string[] {
  const patterns = toml.strings("agent.blacklist", "patterns") ?? DEFAULT_BLACKLIST;
  for (const pattern of patterns) absolutePath(pattern, "[agent.blacklist] patterns");
  return patterns;
}

function enrollmentOf(toml: TomlReader): AgentConfig["enrollment"] {
  const table = "agent.enrollment";
  const endpoints = toml.strings(table, "journal_endpoints");
  if (endpoints === undefined) return undefined;
  const renewalBefore = toml.integer(table, "renewal_before_expiry_seconds");
  return {
    journalEndpoints: endpoints.map((e) => parseHostPort(e, `[${table}] journal_endpoints`)),
    caCert: toml.string(table, "ca_cert"),
    certDir: toml.string(table, "cert_dir") ?? "/var/lib/pact/certs",
    renewalBeforeExpirySeconds: renewalBefore === undefined
      ? undefined
      : positive(renewalBefore, `[${table}] renewal_before_expiry_seconds`),
  };
}

function absolutePath(path: string, what: string): void {
  if (!path.startsWith("/")) {
    throw new PactError("CONFIG", `${what}: ${JSON.stringify(path)} is not an absolute path`);
  }
}

function oneOf<const T extends string>(text: string, choices: readonly T[], what: string): T {
  const found = choices.find((choice) => choice === text);
  if (found === undefined) {
    throw new PactError(
      "CONFIG",
      `Invalid ${what} ${JSON.stringify(text)} (use ${choices.join(", ")})`,
    );
  }
  return found;
}

function positive(value: number, name: string): number {
  if (!(value > 0)) throw new PactError("CONFIG", `${name} must be greater than 0: got ${value}`);
  return value;
}
