import assert from "node:assert/strict";
import { isPactError } from "../shared/errors/mod.ts";
import { readTomlFile } from "../shared/config/toml_file.ts";
import { configPathOf, resolveJournalConfig, resolveJournalPaths } from "./config.ts";

async function withToml(text: string, body: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pact-journal-config-" });
  try {
    await Deno.writeTextFile(`${dir}/journal.toml`, text);
    await body(`${dir}/journal.toml`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const noEnv = () => undefined;
const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("resolveJournalConfig() uses the documented defaults", async () => {
  await withToml("", async (path) => {
    const config = await resolveJournalConfig({ config: path }, noEnv);
    assert.deepEqual(config.listen, { host: "0.0.0.0", port: 9443 });
    assert.deepEqual(config.metricsListen, { host: "0.0.0.0", port: 9091 });
    assert.equal(config.dataDir, "/var/lib/pact/journal");
    assert.equal(config.snapshotDir, "/var/lib/pact/journal/snapshots");
    assert.equal(config.snapshotInterval, 10_000);
    assert.equal(config.maxConcurrentBootStreams, 15_000);
    assert.equal(config.auth.audience, "pact-journal");
    assert.equal(config.auth.hmacSecret, undefined);
    assert.deepEqual(config.peers, []);
    assert.equal(config.tls, undefined);
  });
});

Deno.test("resolveJournalConfig() lets flags beat the environment beat journal.toml", async () => {
  const toml = `
[journal]
listen_addr = "10.0.0.1:1000"
data_dir = "/from/toml"

[journal.raft]
snapshot_interval = 500

[policy.iam]
oidc_issuer = "https://toml-issuer"
oidc_audience = "toml-aud"

[telemetry]
prometheus_listen = "10.0.0.1:2000"
log_format = "json"
`;
  await withToml(toml, async (path) => {
    const fromToml = await resolveJournalConfig({ config: path }, noEnv);
    assert.deepEqual(fromToml.listen, { host: "10.0.0.1", port: 1000 });
    assert.equal(fromToml.dataDir, "/from/toml");
    assert.equal(fromToml.snapshotInterval, 500);
    assert.equal(fromToml.auth.issuer, "https://toml-issuer");
    assert.equal(fromToml.log.format, "json");
    const env = envOf({
      PACT_JOURNAL_LISTEN: "10.0.0.2:1001",
      PACT_JOURNAL_DATA_DIR: "/from/env",
      PACT_OIDC_ISSUER: "https://env-issuer",
    });
    const fromEnv = await resolveJournalConfig({ config: path }, env);
    assert.deepEqual(fromEnv.listen, { host: "10.0.0.2", port: 1001 });
    assert.equal(fromEnv.dataDir, "/from/env");
    assert.equal(fromEnv.auth.issuer, "https://env-issuer");
    assert.equal(fromEnv.auth.audience, "toml-aud");
    const fromFlags = await resolveJournalConfig({
      config: path,
      listen: "127.0.0.1:1002",
      dataDir: "/from/flag",
    }, env);
    assert.deepEqual(fromFlags.listen, { host: "127.0.0.1", port: 1002 });
    assert.equal(fromFlags.dataDir, "/from/flag");
    assert.equal(fromFlags.snapshotDir, "/from/flag/snapshots");
  });
});

Deno.test("resolveJournalConfig() reads peers from --peers or [journal.raft] members", async () => {
  await withToml(
    `[journal.raft]\nmembers = ["1:j1.mgmt:9444", "2:j2.mgmt:9444"]\n`,
    async (path) => {
      const fromToml = await resolveJournalConfig({ config: path }, noEnv);
      assert.deepEqual(fromToml.peers, [
        { id: "1", raft: { host: "j1.mgmt", port: 9444 }, grpc: { host: "j1.mgmt", port: 9443 } },
        { id: "2", raft: { host: "j2.mgmt", port: 9444 }, grpc: { host: "j2.mgmt", port: 9443 } },
      ]);
      const fromEnv = await resolveJournalConfig(
        { config: path },
        envOf({ PACT_JOURNAL_PEERS: "1=journal-1:9443,2=journal-2:9443,3=journal-3:9443" }),
      );
      assert.deepEqual(fromEnv.peers.map((p) => p.id), ["1", "2", "3"]);
      // gRPC addresses from the peers list, Raft addresses from members where given.
      assert.deepEqual(fromEnv.peers[0], {
        id: "1",
        grpc: { host: "journal-1", port: 9443 },
        raft: { host: "j1.mgmt", port: 9444 },
      });
      assert.deepEqual(fromEnv.peers[2]!.raft, { host: "journal-3", port: 9444 });
      await assert.rejects(
        resolveJournalConfig({ config: path, peers: "1=a:9443,1=b:9443" }, noEnv),
        /Peer ids must be unique/,
      );
      await assert.rejects(
        resolveJournalConfig({ config: path, peers: "1=a:9443" }, noEnv),
        /members name 2, which PACT_JOURNAL_PEERS does not list/,
      );
    },
  );
});

const broken: [string, string, RegExp][] = [
  ["malformed TOML", "[journal\nlisten_addr = 1", /journal\.toml: line 1, column \d+/],
  [
    "a wrong type",
    '[journal.raft]\nsnapshot_interval = "often"',
    /\[journal\.raft\] snapshot_interval must be an integer/,
  ],
  ["a bad address", '[journal]\nlisten_addr = "nowhere"', /Invalid gRPC listen address/],
  ["a bad log level", '[telemetry]\nlog_level = "loud"', /Invalid log level/],
  ["a table where a value belongs", "journal = 3", /\[journal\] must be a table/],
  ["a bad raft member", '[journal.raft]\nmembers = ["host-only"]', /Invalid raft member/],
];

for (const [what, text, message] of broken) {
  Deno.test(`resolveJournalConfig() refuses ${what} with a one-line CONFIG error`, async () => {
    await withToml(text, async (path) => {
      await assert.rejects(resolveJournalConfig({ config: path }, noEnv), (err: unknown) => {
        assert.ok(isPactError(err, "CONFIG"), `${err}`);
        assert.match(err.message, message);
        assert.ok(!err.message.includes("\n"), "one line");
        return true;
      });
    });
  });
}

Deno.test("resolveJournalConfig() refuses a missing explicit config file but not the default one", async () => {
  await assert.rejects(
    resolveJournalConfig({ config: "/nonexistent/journal.toml" }, noEnv),
    (err: unknown) => isPactError(err, "CONFIG") && /file not found/.test(err.message),
  );
  await assert.rejects(
    resolveJournalConfig({}, envOf({ PACT_JOURNAL_CONFIG: "/nonexistent/journal.toml" })),
    (err: unknown) => isPactError(err, "CONFIG"),
  );
  assert.deepEqual(configPathOf({}, noEnv), { path: "/etc/pact/journal.toml", explicit: false });
  assert.equal(await readTomlFile("/nonexistent/journal.toml", true), undefined);
});

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

/** A directory with ca.crt, member.crt and member.key (PEM-shaped) beside journal.toml. */
async function withTlsFiles(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pact-journal-config-tls-" });
  try {
    for (const name of ["ca.crt", "member.crt", "member.key"]) {
      await Deno.writeTextFile(`${dir}/${name}`, PEM.replace("MIIB", name));
    }
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Asserts a one-line CONFIG error whose message matches `message`. */
function configError(message: RegExp) {
  return (err: unknown) => {
    assert.ok(isPactError(err, "CONFIG"), `${err}`);
    assert.match(err.message, message);
    assert.ok(!err.message.includes("\n"), "one line");
    return true;
  };
}

Deno.test("resolveJournalConfig() reads [journal.tls] files, with the environment beating journal.toml", async () => {
  await withTlsFiles(async (dir) => {
    const toml = `[journal.tls]
ca_file = "${dir}/ca.crt"
cert_file = "${dir}/member.crt"
key_file = "${dir}/member.key"
server_name = "pact-etcd"
`;
    await withToml(toml, async (path) => {
      const config = await resolveJournalConfig(
        { config: path, peers: "1=10.0.0.1:9443,2=10.0.0.2:9443" },
        noEnv,
      );
      assert.equal(config.tls?.caFile, `${dir}/ca.crt`);
      assert.equal(config.tls?.certFile, `${dir}/member.crt`);
      assert.equal(config.tls?.keyFile, `${dir}/member.key`);
      assert.equal(config.tls?.serverName, "pact-etcd");
      assert.match(new TextDecoder().decode(config.tls?.ca), /ca\.crt/);
      assert.match(new TextDecoder().decode(config.tls?.cert), /member\.crt/);
      assert.match(new TextDecoder().decode(config.tls?.key), /member\.key/);

      await Deno.writeTextFile(`${dir}/other.key`, PEM.replace("MIIB", "other.key"));
      const fromEnv = await resolveJournalConfig(
        { config: path },
        envOf({
          PACT_JOURNAL_TLS_KEY: `${dir}/other.key`,
          PACT_JOURNAL_TLS_SERVER_NAME: "etcd.mgmt",
        }),
      );
      assert.equal(fromEnv.tls?.keyFile, `${dir}/other.key`);
      assert.match(new TextDecoder().decode(fromEnv.tls?.key), /other\.key/);
      assert.equal(fromEnv.tls?.caFile, `${dir}/ca.crt`);
      assert.equal(fromEnv.tls?.serverName, "etcd.mgmt");
    });
    // The environment alone turns TLS on; members by host name need no server_name.
    await withToml("", async (path) => {
      const config = await resolveJournalConfig(
        { config: path, peers: "1=mgmt-1:9443,2=mgmt-2:9443" },
        envOf({
          PACT_JOURNAL_TLS_CA: `${dir}/ca.crt`,
          PACT_JOURNAL_TLS_CERT: `${dir}/member.crt`,
          PACT_JOURNAL_TLS_KEY: `${dir}/member.key`,
        }),
      );
      assert.equal(config.tls?.serverName, undefined);
      assert.equal(config.tls?.certFile, `${dir}/member.crt`);
    });
  });
});

Deno.test("resolveJournalConfig() refuses incomplete or unusable [journal.tls] with one-line CONFIG errors", async () => {
  await withTlsFiles(async (dir) => {
    const files = (ca: string, cert: string, key: string) =>
      `[journal.tls]\nca_file = "${ca}"\ncert_file = "${cert}"\nkey_file = "${key}"\n`;
    const cases: [string, string, Record<string, string>, RegExp][] = [
      [
        "only a CA",
        `[journal.tls]\nca_file = "${dir}/ca.crt"\n`,
        {},
        /Incomplete \[journal\.tls\]: cert_file \(PACT_JOURNAL_TLS_CERT\) and key_file \(PACT_JOURNAL_TLS_KEY\) are missing/,
      ],
      [
        "no key",
        "",
        { PACT_JOURNAL_TLS_CA: `${dir}/ca.crt`, PACT_JOURNAL_TLS_CERT: `${dir}/member.crt` },
        /key_file \(PACT_JOURNAL_TLS_KEY\) is missing/,
      ],
      [
        "a server name without files",
        '[journal.tls]\nserver_name = "pact-etcd"\n',
        {},
        /server_name .* is set but TLS is off/,
      ],
      [
        "a missing file",
        files(`${dir}/ca.crt`, `${dir}/absent.crt`, `${dir}/member.key`),
        {},
        new RegExp(`Cannot read TLS cert_file .* ${dir}/absent\\.crt: file not found`),
      ],
      [
        "a directory as key",
        files(`${dir}/ca.crt`, `${dir}/member.crt`, dir),
        {},
        new RegExp(`Cannot read TLS key_file .* ${dir}: `),
      ],
      [
        "a file that is not PEM",
        files(`${dir}/journal.toml`, `${dir}/member.crt`, `${dir}/member.key`),
        {},
        /TLS ca_file .*journal\.toml is not a PEM file/,
      ],
      [
        "IP members without a server name",
        files(`${dir}/ca.crt`, `${dir}/member.crt`, `${dir}/member.key`),
        { PACT_JOURNAL_PEERS: "1=10.0.0.1:9443,2=10.0.0.2:9443" },
        /server_name is required: member 1 is an IP address \(10\.0\.0\.1\)/,
      ],
      [
        "an IP address as server name",
        files(`${dir}/ca.crt`, `${dir}/member.crt`, `${dir}/member.key`) +
        'server_name = "127.0.0.1"\n',
        {},
        /Invalid \[journal\.tls\] server_name "127\.0\.0\.1"/,
      ],
    ];
    for (const [what, toml, env, message] of cases) {
      await Deno.writeTextFile(`${dir}/journal.toml`, toml);
      await assert.rejects(
        resolveJournalConfig({ config: `${dir}/journal.toml` }, envOf(env)),
        configError(message),
        what,
      );
    }
  });
});

Deno.test("resolveJournalPaths() lists the TLS files for bin/pact-journal without reading them", async () => {
  const toml = `[journal]
data_dir = "/srv/journal"

[journal.etcd]
binary = "/opt/etcd/etcd"

[journal.tls]
ca_file = "/etc/pact/tls/ca.crt"
cert_file = "/etc/pact/tls/journal.crt"
key_file = "/etc/pact/tls/journal.key"
`;
  await withToml(toml, async (path) => {
    assert.deepEqual(await resolveJournalPaths({ config: path }, noEnv), {
      dataDir: "/srv/journal",
      snapshotDir: "/srv/journal/snapshots",
      configPath: path,
      etcdBinary: "/opt/etcd/etcd",
      readFiles: [
        "/etc/pact/tls/ca.crt",
        "/etc/pact/tls/journal.crt",
        "/etc/pact/tls/journal.key",
      ],
    });
    // resolveJournalConfig reads them, and says which one is missing.
    await assert.rejects(
      resolveJournalConfig({ config: path }, noEnv),
      configError(/Cannot read TLS ca_file .* \/etc\/pact\/tls\/ca\.crt: file not found/),
    );
  });
  await withToml("", async (path) => {
    assert.deepEqual((await resolveJournalPaths({ config: path }, noEnv)).readFiles, []);
  });
});

Deno.test("resolveJournalConfig() reads [journal.grpc_tls]: off by default, names from TOML or PACT_JOURNAL_GRPC_TLS_SERVER_NAMES", async () => {
  await withToml("", async (path) => {
    assert.equal((await resolveJournalConfig({ config: path }, noEnv)).grpcTls, undefined);
  });
  await withToml(
    '[journal.grpc_tls]\nenabled = true\nserver_names = ["journal-1.mgmt", "10.0.0.1"]\n',
    async (path) => {
      const config = await resolveJournalConfig({ config: path }, noEnv);
      assert.deepEqual(config.grpcTls, { serverNames: ["journal-1.mgmt", "10.0.0.1"] });
      const overridden = await resolveJournalConfig(
        { config: path },
        envOf({ PACT_JOURNAL_GRPC_TLS_SERVER_NAMES: "a.mgmt, b.mgmt" }),
      );
      assert.deepEqual(overridden.grpcTls, { serverNames: ["a.mgmt", "b.mgmt"] });
      const off = await resolveJournalConfig(
        { config: path },
        envOf({ PACT_JOURNAL_GRPC_TLS: "false" }),
      );
      assert.equal(off.grpcTls, undefined);
    },
  );
  await withToml(
    '[journal.grpc_tls]\nenabled = true\nserver_names = ["bad name"]\n',
    async (path) => {
      await assert.rejects(
        () => resolveJournalConfig({ config: path }, noEnv),
        (err) =>
          isPactError(err, "CONFIG") &&
          /Invalid \[journal.grpc_tls\] server name "bad name"/.test(err.message),
      );
    },
  );
});
