import { isIP } from "node:net";
import { PactError } from "../shared/errors/mod.ts";
import { type HostPort, parseHostPort } from "../shared/config/listen_address.ts";
import { readTomlFile, TomlReader } from "../shared/config/toml_file.ts";

/** Flags of `pact-journal`, as parsed from the command line. */
export interface JournalFlags {
  readonly config?: string | undefined;
  readonly nodeId?: string | undefined;
  readonly listen?: string | undefined;
  readonly peers?: string | undefined;
  readonly dataDir?: string | undefined;
  readonly snapshotDir?: string | undefined;
  readonly metricsListen?: string | undefined;
  readonly bootstrap?: boolean | undefined;
  readonly readOnly?: boolean | undefined;
}

/**
 * One journal of a quorum. `grpc` is where its pact-journal serves (9443);
 * `raft` is its Raft (etcd peer) port, 9444 by default, and the etcd client
 * port is the one after it (9445).
 */
export interface Peer {
  readonly id: string;
  readonly grpc: HostPort;
  readonly raft: HostPort;
}

/** The etcd member a quorum journal runs beside itself, derived from pact's settings. */
export interface EtcdSettings {
  /** The etcd binary (env PACT_JOURNAL_ETCD_BIN, `[journal.etcd] binary`). */
  readonly binary: string;
  /** etcd backend quota; a NOSPACE alarm fires beyond it. */
  readonly quotaBytes: number;
  /** How often superseded revisions are compacted. */
  readonly compactionIntervalSeconds: number;
  /** How often each member is defragmented. */
  readonly defragIntervalSeconds: number;
}

/**
 * Where the quorum's TLS material is (`[journal.tls]`, PACT_JOURNAL_TLS_*):
 * PEM files that pact's CA issues. One certificate per member serves both
 * etcd sides (peer and client) and is also the journal's etcd client
 * certificate, so it carries the serverAuth and clientAuth key usages.
 */
export interface JournalTlsFiles {
  /** The CA that signed every member's certificate. */
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /**
   * A DNS name in every member certificate, verified instead of each
   * member's host. Required when members are IP addresses (Deno's TLS
   * refuses an IP address as server name).
   */
  readonly serverName: string | undefined;
}

/** TLS settings with the PEM material read at start. */
export interface JournalTls extends JournalTlsFiles {
  readonly ca: Uint8Array;
  readonly cert: Uint8Array;
  readonly key: Uint8Array;
}

/** Everything pact-journal runs with, after flags, environment and file are merged. */
export interface JournalConfig {
  readonly configPath: string;
  readonly nodeId: string;
  readonly listen: HostPort;
  readonly metricsListen: HostPort;
  readonly dataDir: string;
  readonly snapshotDir: string;
  readonly peers: readonly Peer[];
  readonly bootstrap: boolean;
  /** A read replica: serves reads and boot streams, forwards writes to the quorum. */
  readonly readOnly: boolean;
  readonly etcd: EtcdSettings;
  /** TLS for etcd peer and client traffic; undefined when off (plain HTTP). */
  readonly tls: JournalTls | undefined;
  /** TLS (and client certificates) on the gRPC port (`[journal.grpc_tls]`); undefined: plaintext. */
  readonly grpcTls: GrpcTlsSettings | undefined;
  readonly snapshotInterval: number;
  readonly maxConcurrentBootStreams: number;
  readonly prometheusEnabled: boolean;
  readonly auth: {
    readonly issuer: string;
    readonly audience: string;
    readonly hmacSecret: string | undefined;
    readonly jwksUrl: string | undefined;
  };
  readonly discovery: {
    readonly idpUrl: string;
    readonly clientId: string;
  };
  /** The policy engine (`[policy.engine]`): RBAC always, OPA when an endpoint is set. */
  readonly policy: PolicySettings;
  /** Node enrollment and the CA (`[journal.enrollment]`). */
  readonly enrollment: EnrollmentSettings;
  readonly log: {
    readonly level: "debug" | "info" | "warning" | "error";
    readonly format: "text" | "json";
  };
}

/**
 * TLS on the journal's gRPC port (`[journal.grpc_tls] enabled = true`,
 * PACT_JOURNAL_GRPC_TLS=true). The journal issues its own server
 * certificate from its enrollment CA; clients may present a certificate
 * from that CA, which agent RPCs require.
 */
export interface GrpcTlsSettings {
  /**
   * Extra DNS names or IP addresses for the server certificate
   * (`server_names`, PACT_JOURNAL_GRPC_TLS_SERVER_NAMES, comma-separated),
   * besides `pact-journal`, the host name and a non-wildcard listen host.
   */
  readonly serverNames: readonly string[];
}

/** Policy engine settings. */
export interface PolicySettings {
  /**
   * OPA's Data API base for pact's packages (`[policy.engine] opa_endpoint`,
   * PACT_OPA_ENDPOINT), e.g. `http://localhost:8181/v1/data/pact`; the
   * journal asks `<endpoint>/authz`. Undefined: RBAC alone decides.
   */
  readonly opaEndpoint: string | undefined;
  /** Per-decision OPA timeout (`opa_timeout_ms`, PACT_OPA_TIMEOUT_MS). Default 1000. */
  readonly opaTimeoutMs: number;
  /** How often pending approvals are checked for expiry (PACT_APPROVAL_CHECK_INTERVAL_MS). Default 1000. */
  readonly approvalCheckIntervalMs: number;
}

/** Node enrollment settings (`[journal.enrollment]`, PACT_ENROLLMENT_* and PACT_CA_*). */
export interface EnrollmentSettings {
  /** The enrollment domain (one journal quorum, one CA, one registry). Default `default`. */
  readonly domainId: string;
  /** Lifetime of node certificates. Default 3 days. */
  readonly certLifetimeSeconds: number;
  /** Enroll calls accepted per minute (global token bucket). Default 100. */
  readonly rateLimitPerMinute: number;
  /** Site CA files (both or neither; PACT_CA_CERT/PACT_CA_KEY); unset: an ephemeral CA. */
  readonly caCertFile: string | undefined;
  readonly caKeyFile: string | undefined;
  /** Validity of a generated (ephemeral) CA. Default 365 days. */
  readonly ephemeralCaValidityDays: number;
  /** An Active node without a config subscription this long becomes Inactive. Default 300. */
  readonly heartbeatTimeoutSeconds: number;
  /**
   * SPIRE: agents may also present an X.509-SVID
   * `spiffe://<trustDomain>/pact-agent/<node>` signed by a CA of this PEM
   * bundle (`spiffe_trust_domain` + `spiffe_trust_bundle`,
   * PACT_SPIFFE_TRUST_DOMAIN + PACT_SPIFFE_TRUST_BUNDLE; both or neither).
   */
  readonly spiffe: { readonly trustDomain: string; readonly bundleFile: string } | undefined;
}

/** Reads one environment variable; injected so that tests need no real environment. */
export type EnvReader = (name: string) => string | undefined;

export const DEFAULT_CONFIG_PATH = "/etc/pact/journal.toml";
export const DEFAULT_DATA_DIR = "/var/lib/pact/journal";

/** Path of the config file: `--config`, else PACT_JOURNAL_CONFIG, else the default. */
export function configPathOf(
  flags: JournalFlags,
  env: EnvReader,
): { path: string; explicit: boolean } {
  const explicit = flags.config ?? env("PACT_JOURNAL_CONFIG");
  return { path: explicit ?? DEFAULT_CONFIG_PATH, explicit: explicit !== undefined };
}

/**
 * Merges settings with the precedence flags > environment > journal.toml >
 * defaults. A missing default config file is fine; a missing explicit one,
 * malformed TOML, a bad value or an unreadable TLS file is a CONFIG error.
 */
export async function resolveJournalConfig(
  flags: JournalFlags,
  env: EnvReader,
): Promise<JournalConfig> {
  const { tlsFiles, ...config } = await resolveSettings(flags, env);
  return { ...config, tls: tlsFiles && await readTlsFiles(tlsFiles) };
}

/** What `bin/pact-journal` grants the journal access to. */
export interface JournalPaths {
  readonly dataDir: string;
  readonly snapshotDir: string;
  readonly configPath: string;
  readonly etcdBinary: string;
  /** Further files the journal reads: the TLS CA, certificate and key (none when TLS is off). */
  readonly readFiles: readonly string[];
}

/**
 * The paths of `resolveJournalConfig`, without reading the TLS files (the
 * journal itself reports one it cannot read, once it may read it).
 */
export async function resolveJournalPaths(
  flags: JournalFlags,
  env: EnvReader,
): Promise<JournalPaths> {
  const config = await resolveSettings(flags, env);
  const tls = config.tlsFiles;
  return {
    dataDir: config.dataDir,
    snapshotDir: config.snapshotDir,
    configPath: config.configPath,
    etcdBinary: config.etcd.binary,
    readFiles: [
      ...(tls === undefined ? [] : [tls.caFile, tls.certFile, tls.keyFile]),
      ...[
        config.enrollment.caCertFile,
        config.enrollment.caKeyFile,
        config.enrollment.spiffe?.bundleFile,
      ].filter((f) => f !== undefined),
    ],
  };
}

type Settings = Omit<JournalConfig, "tls"> & { readonly tlsFiles: JournalTlsFiles | undefined };

async function resolveSettings(flags: JournalFlags, env: EnvReader): Promise<Settings> {
  const { path, explicit } = configPathOf(flags, env);
  const toml = new TomlReader(await readTomlFile(path, !explicit), path);
  const pick = <T>(...values: (T | undefined)[]): T | undefined =>
    values.find((v) => v !== undefined);

  const dataDir =
    pick(flags.dataDir, env("PACT_JOURNAL_DATA_DIR"), toml.string("journal", "data_dir")) ??
      DEFAULT_DATA_DIR;
  const raftMembers = toml.strings("journal.raft", "members");
  const peers = parsePeers(pick(flags.peers, env("PACT_JOURNAL_PEERS")), raftMembers);
  const setting = (name: string, key: string) =>
    pick(env(name) || undefined, toml.string("journal.tls", key) || undefined);
  return {
    configPath: path,
    nodeId: pick(flags.nodeId, env("PACT_JOURNAL_NODE_ID")) ?? "1",
    listen: parseHostPort(
      pick(flags.listen, env("PACT_JOURNAL_LISTEN"), toml.string("journal", "listen_addr")) ??
        "0.0.0.0:9443",
      "gRPC listen address",
    ),
    metricsListen: parseHostPort(
      pick(
        flags.metricsListen,
        env("PACT_JOURNAL_METRICS_LISTEN"),
        toml.string("telemetry", "prometheus_listen"),
      ) ??
        "0.0.0.0:9091",
      "metrics listen address",
    ),
    dataDir,
    snapshotDir: pick(flags.snapshotDir, env("PACT_JOURNAL_SNAPSHOT_DIR")) ??
      `${dataDir}/snapshots`,
    peers,
    bootstrap: flags.bootstrap ?? false,
    readOnly: flags.readOnly ?? envFlag(env("PACT_JOURNAL_READ_ONLY"), "PACT_JOURNAL_READ_ONLY") ??
      toml.boolean("journal", "read_only") ?? false,
    etcd: {
      binary: pick(env("PACT_JOURNAL_ETCD_BIN"), toml.string("journal.etcd", "binary")) ?? "etcd",
      quotaBytes: positive(
        toml.integer("journal.etcd", "quota_bytes") ?? 8 * 1024 ** 3,
        "quota_bytes",
      ),
      compactionIntervalSeconds: positive(
        toml.integer("journal.etcd", "compaction_interval_seconds") ?? 300,
        "compaction_interval_seconds",
      ),
      defragIntervalSeconds: positive(
        toml.integer("journal.etcd", "defrag_interval_seconds") ?? 3600,
        "defrag_interval_seconds",
      ),
    },
    tlsFiles: tlsFilesOf(
      {
        caFile: setting("PACT_JOURNAL_TLS_CA", "ca_file"),
        certFile: setting("PACT_JOURNAL_TLS_CERT", "cert_file"),
        keyFile: setting("PACT_JOURNAL_TLS_KEY", "key_file"),
        serverName: setting("PACT_JOURNAL_TLS_SERVER_NAME", "server_name"),
      },
      peers,
    ),
    snapshotInterval: nonNegative(
      toml.integer("journal.raft", "snapshot_interval") ?? 10_000,
      "snapshot_interval",
    ),
    maxConcurrentBootStreams: positive(
      toml.integer("journal.streaming", "max_concurrent_boot_streams") ?? 15_000,
      "max_concurrent_boot_streams",
    ),
    prometheusEnabled: toml.boolean("telemetry", "prometheus_enabled") ?? true,
    auth: {
      issuer: pick(env("PACT_OIDC_ISSUER"), toml.string("policy.iam", "oidc_issuer")) ??
        "https://auth.example.com",
      audience: pick(env("PACT_OIDC_AUDIENCE"), toml.string("policy.iam", "oidc_audience")) ??
        "pact-journal",
      hmacSecret: pick(env("PACT_OIDC_HMAC_SECRET"), toml.string("policy.iam", "hmac_secret")) ||
        undefined,
      jwksUrl: pick(env("PACT_OIDC_JWKS_URL"), toml.string("policy.iam", "jwks_url")) || undefined,
    },
    discovery: {
      idpUrl: pick(env("PACT_IDP_URL"), toml.string("policy.iam", "idp_url")) ?? "",
      clientId: pick(env("PACT_CLIENT_ID"), toml.string("policy.iam", "client_id")) ?? "pact-cli",
    },
    policy: policySettings(toml, env),
    enrollment: enrollmentSettings(toml, env),
    grpcTls: grpcTlsSettings(toml, env),
    log: {
      level: logLevel(pick(env("PACT_LOG_LEVEL"), toml.string("telemetry", "log_level")) ?? "info"),
      format: logFormat(
        pick(env("PACT_LOG_FORMAT"), toml.string("telemetry", "log_format")) ?? "text",
      ),
    },
  };
}

/**
 * Quorum members from `PACT_JOURNAL_PEERS` (`1=host:9443,...`, gRPC
 * addresses) and `[journal.raft] members` (`1:host:9444`, Raft addresses).
 * Either alone is enough: the Raft port defaults to the gRPC port + 1 and
 * the gRPC port to the Raft port - 1, as in the documented 9443/9444 pair.
 */
function parsePeers(text: string | undefined, members: string[] | undefined): Peer[] {
  const raftById = new Map<string, HostPort>();
  for (const member of members ?? []) {
    const colon = member.indexOf(":");
    if (colon < 1) {
      throw new PactError(
        "CONFIG",
        `Invalid raft member ${JSON.stringify(member)} (expected id:host:port)`,
      );
    }
    raftById.set(
      member.slice(0, colon),
      parseHostPort(member.slice(colon + 1), `raft member ${member}`),
    );
  }
  if (text === undefined || text.trim() === "") {
    return [...raftById].map(([id, raft]) => ({
      id,
      raft,
      grpc: { ...raft, port: raft.port - 1 },
    }));
  }
  const peers = text.split(",").map((item): Peer => {
    const [id, address] = item.trim().split("=");
    if (!id || !address) {
      throw new PactError("CONFIG", `Invalid peer ${JSON.stringify(item)} (expected id=host:port)`);
    }
    const grpc = parseHostPort(address, `address of peer ${id}`);
    return { id, grpc, raft: raftById.get(id) ?? { ...grpc, port: grpc.port + 1 } };
  });
  const ids = new Set(peers.map((peer) => peer.id));
  if (ids.size !== peers.length) {
    throw new PactError("CONFIG", `Peer ids must be unique: ${text}`);
  }
  const stray = [...raftById.keys()].filter((id) => !ids.has(id));
  if (stray.length > 0) {
    throw new PactError(
      "CONFIG",
      `[journal.raft] members name ${stray.join(", ")}, which PACT_JOURNAL_PEERS does not list`,
    );
  }
  return peers;
}

const TLS_KEYS = {
  caFile: "ca_file (PACT_JOURNAL_TLS_CA)",
  certFile: "cert_file (PACT_JOURNAL_TLS_CERT)",
  keyFile: "key_file (PACT_JOURNAL_TLS_KEY)",
} as const;

/**
 * TLS is on when the three files are named, off when none is; anything in
 * between is a CONFIG error. Members reached by IP address need a
 * `server_name` (a DNS name), since the certificates cannot be checked
 * against an IP address.
 */
function tlsFilesOf(
  given: {
    readonly caFile: string | undefined;
    readonly certFile: string | undefined;
    readonly keyFile: string | undefined;
    readonly serverName: string | undefined;
  },
  peers: readonly Peer[],
): JournalTlsFiles | undefined {
  const { caFile, certFile, keyFile, serverName } = given;
  const named = (Object.keys(TLS_KEYS) as (keyof typeof TLS_KEYS)[]).filter((key) =>
    given[key] !== undefined
  );
  if (named.length === 0) {
    if (serverName !== undefined) {
      throw new PactError(
        "CONFIG",
        "[journal.tls] server_name (PACT_JOURNAL_TLS_SERVER_NAME) is set but TLS is off: set ca_file, cert_file and key_file too",
      );
    }
    return undefined;
  }
  if (caFile === undefined || certFile === undefined || keyFile === undefined) {
    const missing = (Object.keys(TLS_KEYS) as (keyof typeof TLS_KEYS)[])
      .filter((key) => given[key] === undefined).map((key) => TLS_KEYS[key]);
    throw new PactError(
      "CONFIG",
      `Incomplete [journal.tls]: ${missing.join(" and ")} ${
        missing.length === 1 ? "is" : "are"
      } missing (TLS needs ca_file, cert_file and key_file, or none of them)`,
    );
  }
  if (serverName !== undefined && isIP(serverName) !== 0) {
    throw new PactError(
      "CONFIG",
      `Invalid [journal.tls] server_name ${
        JSON.stringify(serverName)
      } (use a DNS name that every member certificate carries, not an IP address)`,
    );
  }
  const byAddress = peers.find((peer) => isIP(peer.raft.host) !== 0);
  if (serverName === undefined && byAddress !== undefined) {
    throw new PactError(
      "CONFIG",
      `[journal.tls] server_name is required: member ${byAddress.id} is an IP address ` +
        `(${byAddress.raft.host}); set it to a DNS name that every member certificate carries`,
    );
  }
  return { caFile, certFile, keyFile, serverName };
}

/** Reads the PEM files named by `files`; one missing, unreadable or not PEM is a CONFIG error. */
async function readTlsFiles(files: JournalTlsFiles): Promise<JournalTls> {
  const read = async (key: keyof typeof TLS_KEYS): Promise<Uint8Array> => {
    const path = files[key];
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (err) {
      const reason = err instanceof Deno.errors.NotFound
        ? "file not found"
        : err instanceof Deno.errors.PermissionDenied
        ? "permission denied"
        : (err as Error).message.split("\n", 1)[0]!.replace(/ \(os error \d+\).*$/, "");
      throw new PactError("CONFIG", `Cannot read TLS ${TLS_KEYS[key]} ${path}: ${reason}`);
    }
    if (!new TextDecoder().decode(bytes).includes("-----BEGIN ")) {
      throw new PactError("CONFIG", `TLS ${TLS_KEYS[key]} ${path} is not a PEM file`);
    }
    return bytes;
  };
  return {
    ...files,
    ca: await read("caFile"),
    cert: await read("certFile"),
    key: await read("keyFile"),
  };
}

function policySettings(toml: TomlReader, env: EnvReader): PolicySettings {
  const type = toml.string("policy.engine", "type");
  if (type !== undefined && type !== "opa" && type !== "rbac") {
    throw new PactError(
      "CONFIG",
      `Invalid [policy.engine] type ${JSON.stringify(type)} (use opa, or rbac for no OPA)`,
    );
  }
  const endpoint = (env("PACT_OPA_ENDPOINT") || undefined) ??
    (type === "rbac" ? undefined : toml.string("policy.engine", "opa_endpoint"));
  if (type === "opa" && endpoint === undefined) {
    throw new PactError(
      "CONFIG",
      '[policy.engine] type = "opa" needs opa_endpoint (e.g. http://localhost:8181/v1/data/pact)',
    );
  }
  if (endpoint !== undefined) checkOpaEndpoint(endpoint);
  const envInt = (name: string) => {
    const text = env(name);
    if (text === undefined || text === "") return undefined;
    const value = Number(text);
    if (!Number.isInteger(value)) {
      throw new PactError("CONFIG", `Invalid ${name} ${JSON.stringify(text)}: expected an integer`);
    }
    return value;
  };
  return {
    opaEndpoint: endpoint,
    opaTimeoutMs: positive(
      envInt("PACT_OPA_TIMEOUT_MS") ?? toml.integer("policy.engine", "opa_timeout_ms") ?? 1000,
      "opa_timeout_ms",
    ),
    approvalCheckIntervalMs: positive(
      envInt("PACT_APPROVAL_CHECK_INTERVAL_MS") ?? 1000,
      "PACT_APPROVAL_CHECK_INTERVAL_MS",
    ),
  };
}

function grpcTlsSettings(toml: TomlReader, env: EnvReader): GrpcTlsSettings | undefined {
  const section = "journal.grpc_tls";
  const enabled = envFlag(env("PACT_JOURNAL_GRPC_TLS"), "PACT_JOURNAL_GRPC_TLS") ??
    toml.boolean(section, "enabled") ?? false;
  const namesText = env("PACT_JOURNAL_GRPC_TLS_SERVER_NAMES");
  const serverNames = namesText
    ? namesText.split(",").map((n) => n.trim()).filter((n) => n !== "")
    : toml.strings(section, "server_names") ?? [];
  if (!enabled) return undefined;
  for (const name of serverNames) {
    if (isIP(name) === 0 && !/^[a-zA-Z0-9*]([a-zA-Z0-9.-]{0,252})$/.test(name)) {
      throw new PactError(
        "CONFIG",
        `Invalid [journal.grpc_tls] server name ${
          JSON.stringify(name)
        } (use DNS names or IP addresses)`,
      );
    }
  }
  return { serverNames };
}

function enrollmentSettings(toml: TomlReader, env: EnvReader): EnrollmentSettings {
  const section = "journal.enrollment";
  const envInt = (name: string) => {
    const text = env(name);
    if (text === undefined || text === "") return undefined;
    const value = Number(text);
    if (!Number.isInteger(value)) {
      throw new PactError("CONFIG", `Invalid ${name} ${JSON.stringify(text)}: expected an integer`);
    }
    return value;
  };
  const file = (name: string, key: string) =>
    (env(name) || undefined) ?? (toml.string(section, key) || undefined);
  const caCertFile = file("PACT_CA_CERT", "ca_cert_file");
  const caKeyFile = file("PACT_CA_KEY", "ca_key_file");
  if ((caCertFile === undefined) !== (caKeyFile === undefined)) {
    throw new PactError(
      "CONFIG",
      `Incomplete site CA: ${
        caCertFile === undefined ? "ca_cert_file (PACT_CA_CERT)" : "ca_key_file (PACT_CA_KEY)"
      } is missing (set both, or neither for an ephemeral CA)`,
    );
  }
  const domainId = (env("PACT_ENROLLMENT_DOMAIN_ID") || undefined) ??
    toml.string(section, "domain_id") ?? "default";
  if (!/^[a-z0-9][a-z0-9.-]{0,62}$/.test(domainId)) {
    throw new PactError(
      "CONFIG",
      `Invalid [journal.enrollment] domain_id ${
        JSON.stringify(domainId)
      } (use 1-63 lowercase letters, digits, '.' or '-')`,
    );
  }
  return {
    domainId,
    certLifetimeSeconds: positive(
      envInt("PACT_ENROLLMENT_CERT_LIFETIME_SECONDS") ??
        toml.integer(section, "cert_lifetime_seconds") ?? 3 * 86_400,
      "cert_lifetime_seconds",
    ),
    rateLimitPerMinute: positive(
      envInt("PACT_ENROLLMENT_RATE_LIMIT_PER_MINUTE") ??
        toml.integer(section, "rate_limit_per_minute") ?? 100,
      "rate_limit_per_minute",
    ),
    caCertFile,
    caKeyFile,
    ephemeralCaValidityDays: positive(
      toml.integer(section, "ephemeral_ca_validity_days") ?? 365,
      "ephemeral_ca_validity_days",
    ),
    heartbeatTimeoutSeconds: positive(
      envInt("PACT_ENROLLMENT_HEARTBEAT_TIMEOUT_SECONDS") ??
        toml.integer(section, "heartbeat_timeout_seconds") ?? 300,
      "heartbeat_timeout_seconds",
    ),
    spiffe: spiffeSettings(
      file("PACT_SPIFFE_TRUST_DOMAIN", "spiffe_trust_domain"),
      file("PACT_SPIFFE_TRUST_BUNDLE", "spiffe_trust_bundle"),
    ),
  };
}

function spiffeSettings(
  trustDomain: string | undefined,
  bundleFile: string | undefined,
): EnrollmentSettings["spiffe"] {
  if (trustDomain === undefined && bundleFile === undefined) return undefined;
  if (trustDomain === undefined || bundleFile === undefined) {
    throw new PactError(
      "CONFIG",
      `Incomplete SPIFFE trust: ${
        trustDomain === undefined
          ? "spiffe_trust_domain (PACT_SPIFFE_TRUST_DOMAIN)"
          : "spiffe_trust_bundle (PACT_SPIFFE_TRUST_BUNDLE)"
      } is missing (set both, or neither without SPIRE)`,
    );
  }
  // A SPIFFE trust domain: lowercase letters, digits, '.', '-' and '_'.
  if (!/^[a-z0-9._-]{1,255}$/.test(trustDomain)) {
    throw new PactError(
      "CONFIG",
      `Invalid [journal.enrollment] spiffe_trust_domain ${
        JSON.stringify(trustDomain)
      } (use lowercase letters, digits, '.', '-' or '_', without spiffe://)`,
    );
  }
  return { trustDomain, bundleFile };
}

function checkOpaEndpoint(endpoint: string): void {
  let url: URL | undefined;
  try {
    url = new URL(endpoint);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new PactError(
      "CONFIG",
      `Invalid OPA endpoint ${
        JSON.stringify(endpoint)
      } (expected an http(s) URL like http://localhost:8181/v1/data/pact)`,
    );
  }
  if (!url.pathname.startsWith("/v1/data/")) {
    throw new PactError(
      "CONFIG",
      `Invalid OPA endpoint ${
        JSON.stringify(endpoint)
      }: the path must be a Data API document such as /v1/data/pact`,
    );
  }
}

function envFlag(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined || value === "") return undefined;
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw new PactError("CONFIG", `Invalid ${name} ${JSON.stringify(value)} (use true or false)`);
}

function logLevel(text: string): JournalConfig["log"]["level"] {
  const level = text.toLowerCase() === "warn" ? "warning" : text.toLowerCase();
  if (level === "debug" || level === "info" || level === "warning" || level === "error") {
    return level;
  }
  throw new PactError(
    "CONFIG",
    `Invalid log level ${JSON.stringify(text)} (use debug, info, warn or error)`,
  );
}

function logFormat(text: string): JournalConfig["log"]["format"] {
  if (text === "text" || text === "json") return text;
  throw new PactError("CONFIG", `Invalid log format ${JSON.stringify(text)} (use text or json)`);
}

function positive(value: number, name: string): number {
  if (value <= 0) throw new PactError("CONFIG", `${name} must be greater than 0: got ${value}`);
  return value;
}

function nonNegative(value: number, name: string): number {
  if (value < 0) throw new PactError("CONFIG", `${name} must not be negative: got ${value}`);
  return value;
}
