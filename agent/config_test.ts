import assert from "node:assert/strict";
import { isPactError } from "../shared/errors/mod.ts";
import {
  type AgentFlags,
  DEFAULT_BLACKLIST,
  type EnvReader,
  parseAgentConfig,
  resolveAgentConfig,
} from "./config.ts";
import { keyLines } from "./config_keys.ts";

const noEnv: EnvReader = () => undefined;
const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

/** The deployment guide's agent.toml, verbatim, plus its auth and identity sections. */
const SEED_TOML = `[agent]
enforcement_mode = "enforce"

[agent.supervisor]
backend = "pact"

[agent.journal]
endpoints = ["journal-1.mgmt:9443", "journal-2.mgmt:9443", "journal-3.mgmt:9443"]
tls_enabled = true
tls_cert = "/etc/pact/agent.crt"
tls_key = "/etc/pact/agent.key"
tls_ca = "/etc/pact/ca.crt"

[agent.observer]
ebpf_enabled = true
inotify_enabled = true
netlink_enabled = true

[agent.shell]
enabled = true
listen = "0.0.0.0:9445"
whitelist_mode = "strict"

[agent.commit_window]
base_window_seconds = 900
drift_sensitivity = 2.0
emergency_window_seconds = 14400

[agent.blacklist]
patterns = ["/tmp/**", "/var/log/**", "/proc/**", "/sys/**", "/dev/**",
            "/run/user/**", "/run/pact/**", "/run/lattice/**"]

[agent.shell.auth]
issuer = "https://your-idp/realm"
audience = "pact-cli"
jwks_url = "https://your-idp/realm/protocol/openid-connect/certs"
# hmac_secret = "shared-secret"

[agent.identity]
provider = "spire"
spire_socket = "/run/spire/agent.sock"
`;

function parse(
  text: string,
  env: EnvReader = noEnv,
  flags: AgentFlags = {},
  hostname?: () => string | undefined,
) {
  return parseAgentConfig(text, "agent.toml", flags, env, hostname);
}

function configError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err) => {
    assert.ok(isPactError(err, "CONFIG"), `expected a CONFIG error, got ${err}`);
    assert.doesNotMatch(err.message, /\n/, "the error is one line");
    assert.match(err.message, pattern);
    return true;
  });
}

Deno.test("parseAgentConfig() reads every key of the deployment guide's agent.toml", () => {
  const config = parse(SEED_TOML, noEnv, { nodeId: "compute-1" });
  assert.equal(config.nodeId, "compute-1");
  assert.equal(config.enforcementMode, "enforce");
  assert.equal(config.supervisorBackend, "pact");
  assert.deepEqual(config.journal.endpoints.map((e) => `${e.host}:${e.port}`), [
    "journal-1.mgmt:9443",
    "journal-2.mgmt:9443",
    "journal-3.mgmt:9443",
  ]);
  assert.deepEqual(config.journal.tls, {
    cert: "/etc/pact/agent.crt",
    key: "/etc/pact/agent.key",
    ca: "/etc/pact/ca.crt",
  });
  assert.equal(config.observer.ebpfEnabled, true);
  assert.equal(config.observer.inotifyEnabled, true);
  assert.equal(config.observer.netlinkEnabled, true);
  assert.deepEqual(config.shell.listen, { host: "0.0.0.0", port: 9445 });
  assert.equal(config.shell.whitelistMode, "strict");
  assert.equal(config.shell.auth?.jwksUrl, "https://your-idp/realm/protocol/openid-connect/certs");
  assert.equal(config.shell.auth?.hmacSecret, undefined);
  assert.deepEqual(config.commitWindow, {
    baseWindowSeconds: 900,
    driftSensitivity: 2.0,
    emergencyWindowSeconds: 14_400,
    minWindowSeconds: 60,
  });
  assert.equal(config.blacklist.length, 8);
  assert.ok(config.blacklist.includes("/run/lattice/**"));
  assert.deepEqual(config.identity, { provider: "spire", spireSocket: "/run/spire/agent.sock" });
});

Deno.test("parseAgentConfig() uses the reference defaults for an empty file", () => {
  const config = parse("", noEnv, { nodeId: "n1" });
  assert.equal(config.enforcementMode, "observe");
  assert.equal(config.supervisorBackend, "pact");
  assert.deepEqual(config.journal.endpoints, []);
  assert.equal(config.journal.tls, undefined);
  assert.equal(config.observer.ebpfEnabled, false);
  assert.equal(config.observer.inotifyEnabled, true);
  assert.equal(config.observer.probeIntervalMs, 10_000);
  assert.equal(config.observer.hashSweepIntervalMs, 60_000);
  assert.equal(config.shell.whitelistMode, "learning");
  assert.equal(config.shell.auth, undefined, "no [agent.shell.auth] means fail closed");
  assert.equal(config.commitWindow.baseWindowSeconds, 900);
  assert.equal(config.commitWindow.emergencyWindowSeconds, 14_400);
  assert.deepEqual(config.blacklist, DEFAULT_BLACKLIST);
  assert.equal(config.capability.gpuPollIntervalSeconds, 30);
  assert.equal(config.enrollment, undefined);
  assert.equal(config.hostRoot, "/");
});

Deno.test("parseAgentConfig() lets flags beat the environment beat agent.toml", () => {
  const toml = `[agent]
node_id = "from-toml"
vcluster = "toml-vc"
enforcement_mode = "warn"
[agent.journal]
endpoints = ["toml:9443"]
[agent.host]
root = "/toml/root"
`;
  const fromToml = parse(toml);
  assert.equal(fromToml.nodeId, "from-toml");
  assert.equal(fromToml.vcluster, "toml-vc");
  assert.equal(fromToml.enforcementMode, "warn");
  assert.equal(fromToml.hostRoot, "/toml/root");
  const env = envOf({
    PACT_AGENT_NODE_ID: "from-env",
    PACT_AGENT_VCLUSTER: "env-vc",
    PACT_AGENT_ENFORCEMENT_MODE: "enforce",
    PACT_AGENT_JOURNAL_ENDPOINTS: "a:1, b:2",
    PACT_AGENT_HOST_ROOT: "/env/root",
  });
  const fromEnv = parse(toml, env);
  assert.equal(fromEnv.nodeId, "from-env");
  assert.equal(fromEnv.vcluster, "env-vc");
  assert.equal(fromEnv.enforcementMode, "enforce");
  assert.deepEqual(fromEnv.journal.endpoints, [{ host: "a", port: 1 }, { host: "b", port: 2 }]);
  assert.equal(fromEnv.hostRoot, "/env/root");
  const fromFlags = parse(toml, env, { nodeId: "from-flag", vcluster: "flag-vc" });
  assert.equal(fromFlags.nodeId, "from-flag");
  assert.equal(fromFlags.vcluster, "flag-vc");
});

Deno.test("parseAgentConfig() falls back to the hostname and refuses a missing node id", () => {
  assert.equal(parse("", noEnv, {}, () => "node042").nodeId, "node042");
  configError(() => parse(""), /No node id: set --node-id, PACT_AGENT_NODE_ID/);
  configError(() => parse("", noEnv, { nodeId: "bad id!" }), /Invalid node id "bad id!"/);
});

Deno.test("parseAgentConfig() refuses an unknown key with its line number", () => {
  const toml = `[agent]
node_id = "n1"

[agent.commit_window]
base_window_seconds = 900
drift_sensitivty = 3.0
`;
  configError(
    () => parse(toml),
    /^agent\.toml: line 6: unknown key "drift_sensitivty" in \[agent\.commit_window\] \(allowed: base_window_seconds, drift_sensitivity/,
  );
});

Deno.test("parseAgentConfig() refuses an unknown table and an unknown top-level key", () => {
  configError(
    () => parse(`[agent]\nnode_id = "n1"\n\n[agent.observr]\nebpf_enabled = true\n`),
    /^agent\.toml: line 4: unknown table "observr" in \[agent\] \(allowed: .*\[agent\.observer\]/,
  );
  configError(
    () => parse(`colour = "blue"\n[agent]\nnode_id = "n1"\n`),
    /^agent\.toml: line 1: unknown key "colour" at the top level/,
  );
  configError(
    () => parse(`agent.observer.inotify = true\n`, noEnv, { nodeId: "n" }),
    /line 1: unknown key "inotify" in \[agent\.observer\]/,
  );
});

Deno.test("parseAgentConfig() refuses bad values with one-line errors", () => {
  const flags = { nodeId: "n1" };
  const cases: [string, RegExp][] = [
    [`[agent]\nenforcement_mode = "strict"`, /Invalid \[agent\] enforcement_mode "strict"/],
    [`[agent.supervisor]\nbackend = "runit"`, /Invalid \[agent\.supervisor\] backend "runit"/],
    [`[agent.commit_window]\nbase_window_seconds = 0`, /base_window_seconds must be greater/],
    [`[agent.commit_window]\ndrift_sensitivity = -1.0`, /drift_sensitivity must be 0 or more/],
    [
      `[agent.commit_window]\nbase_window_seconds = 30`,
      /min_window_seconds \(60\) must not exceed base_window_seconds \(30\)/,
    ],
    [`[agent.commit_window]\nbase_window_seconds = "900"`, /base_window_seconds must be an int/],
    [`[agent.journal]\nendpoints = ["no-port"]`, /Invalid journal endpoint: "no-port"/],
    [`[agent.journal]\ntls_enabled = true\ntls_cert = "/c"`, /needs tls_cert.*tls_key, tls_ca/],
    [`[agent.blacklist]\npatterns = ["tmp/**"]`, /"tmp\/\*\*" is not an absolute path/],
    [`[agent.shell.auth]\nissuer = "https://i"`, /\[agent\.shell\.auth\] needs issuer and aud/],
    [`[agent.observer]\nprobe_interval_seconds = 0`, /probe_interval_seconds must be greater/],
    [`[agent\nnode_id = 1`, /^Cannot parse agent\.toml: line 1/],
  ];
  for (const [text, pattern] of cases) configError(() => parse(text, noEnv, flags), pattern);
});

Deno.test("parseAgentConfig() accepts the Impl's capitalised supervisor backend", () => {
  assert.equal(
    parse(`[agent.supervisor]\nbackend = "Systemd"`, noEnv, { nodeId: "n" }).supervisorBackend,
    "systemd",
  );
});

Deno.test("resolveAgentConfig() reads a file and treats a missing explicit one as an error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pact-agent-config-" });
  try {
    await Deno.writeTextFile(`${dir}/agent.toml`, SEED_TOML);
    const config = await resolveAgentConfig(
      {},
      envOf({ PACT_AGENT_CONFIG: `${dir}/agent.toml`, PACT_AGENT_NODE_ID: "c1" }),
    );
    assert.equal(config.configPath, `${dir}/agent.toml`);
    assert.equal(config.enforcementMode, "enforce");
    await assert.rejects(
      resolveAgentConfig({ config: `${dir}/missing.toml`, nodeId: "c1" }, noEnv),
      /Cannot read .*missing\.toml: file not found/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("keyLines() maps headers, keys, quoted and dotted keys to their lines", () => {
  const lines = keyLines(`a = 1
[t]
"quoted key" = 2
x.y = """
not = a key
"""
[[arr]]
z = 3
`);
  assert.equal(lines.get("a"), 1);
  assert.equal(lines.get("t"), 2);
  assert.equal(lines.get("t.quoted key"), 3);
  assert.equal(lines.get("t.x.y"), 4);
  assert.equal(lines.get("t.not"), undefined, "text inside a multi-line string is not a key");
  assert.equal(lines.get("arr.z"), 8);
});

Deno.test("parseAgentConfig() reads [agent.shell] tls, defaulting to auto, and its files as a pair", () => {
  const base = '[agent]\nnode_id = "n1"\n[agent.shell]\n';
  const defaults = parse(base);
  assert.equal(defaults.shell.tls, "auto");
  assert.equal(defaults.shell.tlsFiles, undefined);
  const files = parse(
    `${base}tls = "required"\ntls_cert_path = "/etc/pact/shell.crt"\ntls_key_path = "/etc/pact/shell.key"\n`,
  );
  assert.equal(files.shell.tls, "required");
  assert.deepEqual(files.shell.tlsFiles, {
    cert: "/etc/pact/shell.crt",
    key: "/etc/pact/shell.key",
  });
  configError(
    () => parse(`${base}tls = "yes"\n`),
    /Invalid \[agent\.shell\] tls "yes" \(use auto, required, off\)/,
  );
  configError(
    () => parse(`${base}tls_cert_path = "/c.pem"\n`),
    /tls_cert_path is set without tls_key_path: set both or neither/,
  );
});
