/**
 * The pact-journal process from outside: its telemetry endpoint, auth
 * metrics, and how it refuses to start on bad configuration.
 */
import assert from "node:assert/strict";
import { JournalClient } from "../cli/client/journal_client.ts";
import { isPactError } from "../shared/errors/mod.ts";
import { commit } from "../shared/testing/entries.ts";
import { JournalProcess } from "./harness/journal_process.ts";
import { BIN } from "./harness/paths.ts";

async function withJournal(
  body: (journal: JournalProcess) => Promise<void>,
  env: Record<string, string> = {},
) {
  const journal = await JournalProcess.start({ env });
  try {
    await body(journal);
  } finally {
    await journal.dispose();
  }
}

function metricValue(text: string, name: string): number {
  const line = text.split("\n").find((l) =>
    l.startsWith(`${name} `) || l.startsWith(`${name}{`) && l.includes(name)
  );
  return line === undefined ? 0 : Number(line.split(" ").at(-1));
}

Deno.test("pact-journal serves /health, /metrics and /auth/discovery without a token", async () => {
  await withJournal(async (journal) => {
    const client = new JournalClient({
      endpoint: journal.endpoint,
      token: await journal.token(),
      timeoutSeconds: 5,
    });
    try {
      for (let i = 0; i < 3; i++) await client.appendEntry({ entry: commit("n1", `c${i}`) });
    } finally {
      client.close();
    }
    const health = await (await fetch(`${journal.httpUrl}/health`)).json();
    assert.equal(health.status, "healthy");
    assert.equal(health.store, "sqlite");
    assert.equal(health.entries, 3);

    const metrics = await (await fetch(`${journal.httpUrl}/metrics`)).text();
    assert.equal(metricValue(metrics, 'pact_journal_entries_total{type="COMMIT"}'), 3);
    assert.equal(metricValue(metrics, "pact_journal_next_sequence"), 3);
    assert.equal(metricValue(metrics, "pact_raft_leader"), 1);
    assert.match(metrics, /# TYPE pact_journal_store_append_seconds histogram/);

    const discovery = await (await fetch(`${journal.httpUrl}/auth/discovery`)).json();
    assert.deepEqual(discovery, {
      idp_url: "https://idp.example.org/realms/hpc",
      client_id: "pact",
      scopes: ["openid", "profile"],
      issuer: "https://idp.test.pact",
      audience: "pact-cli",
    });

    const missing = await fetch(`${journal.httpUrl}/nope`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    const post = await fetch(`${journal.httpUrl}/health`, { method: "POST" });
    assert.equal(post.status, 405);
    await post.body?.cancel();
  }, { PACT_IDP_URL: "https://idp.example.org/realms/hpc", PACT_CLIENT_ID: "pact" });
});

Deno.test("pact-journal counts refused tokens by reason and writes nothing for them", async () => {
  await withJournal(async (journal) => {
    const cases: [string, string][] = [
      ["garbage", "malformed"],
      [
        await journal.token("pact-platform-admin", "a@b").then((t) => `${t.slice(0, -2)}xx`),
        "bad_signature",
      ],
    ];
    for (const [token, reason] of cases) {
      const client = new JournalClient({ endpoint: journal.endpoint, token, timeoutSeconds: 5 });
      try {
        await assert.rejects(
          client.appendEntry({ entry: commit("n1") }),
          (err: unknown) => isPactError(err, "TOKEN_INVALID"),
        );
      } finally {
        client.close();
      }
      const metrics = await (await fetch(`${journal.httpUrl}/metrics`)).text();
      assert.equal(metricValue(metrics, `pact_auth_failures_total{reason="${reason}"}`), 1, reason);
    }
    const health = await (await fetch(`${journal.httpUrl}/health`)).json();
    assert.equal(health.entries, 0);
  });
});

Deno.test("pact-journal ignores SIGHUP and keeps serving", async () => {
  await withJournal(async (journal) => {
    Deno.kill(journal.pid, "SIGHUP");
    await new Promise((r) => setTimeout(r, 300));
    const health = await fetch(`${journal.httpUrl}/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    assert.match(journal.log, /SIGHUP ignored/);
  });
});

async function startFails(
  args: string[],
  toml?: string,
): Promise<{ code: number; stderr: string }> {
  const dir = await Deno.makeTempDir({ prefix: "pact-bad-journal-" });
  try {
    await Deno.writeTextFile(`${dir}/journal.toml`, toml ?? "");
    const output = await new Deno.Command(`${BIN}/pact-journal`, {
      args: [
        "--config",
        `${dir}/journal.toml`,
        "--data-dir",
        `${dir}/data`,
        "--metrics-listen",
        "127.0.0.1:0",
        ...args,
      ],
      env: { PACT_OIDC_HMAC_SECRET: "s" },
      stdout: "null",
      stderr: "piped",
    }).output();
    return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("pact-journal refuses to start on bad configuration with a one-line reason", async () => {
  const malformed = await startFails(["--listen", "127.0.0.1:0"], "[journal\n");
  assert.equal(malformed.code, 1);
  assert.match(
    malformed.stderr,
    /^pact-journal: Cannot parse .*journal\.toml: line 1, column \d+: .+\n$/,
  );

  const peers = await startFails([
    "--listen",
    "127.0.0.1:0",
    "--node-id",
    "7",
    "--peers",
    "1=a:9443,2=b:9443",
  ]);
  assert.equal(peers.code, 1);
  assert.match(
    peers.stderr,
    /^pact-journal: Node id 7 is not among the quorum members \(1, 2\): set PACT_JOURNAL_NODE_ID, or start a read replica with --read-only\n$/,
  );

  const duplicatePeers = await startFails(["--peers", "1=a:9443,1=b:9443"]);
  assert.equal(duplicatePeers.code, 1);
  assert.match(duplicatePeers.stderr, /^pact-journal: Peer ids must be unique/);

  const badListen = await startFails(["--listen", "no-port"]);
  assert.equal(badListen.code, 1);
  assert.match(
    badListen.stderr,
    /^pact-journal: Invalid gRPC listen address: "no-port" \(expected host:port\)\n$/,
  );

  const unknownFlag = await startFails(["--frobnicate"]);
  assert.equal(unknownFlag.code, 1);
  assert.match(unknownFlag.stderr, /unknown option '--frobnicate'/);
});

Deno.test("pact-journal refuses to start when its port is taken", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const result = await startFails(["--listen", `127.0.0.1:${taken.addr.port}`]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`Cannot listen on 127\\.0\\.0\\.1:${taken.addr.port}`));
  } finally {
    taken.close();
  }
});

Deno.test("pact-journal mint-token signs a token the journal accepts", async () => {
  await withJournal(async (journal) => {
    const output = await new Deno.Command(`${BIN}/pact-journal`, {
      args: [
        "--config",
        `${journal.dataDir}/journal.toml`,
        "mint-token",
        "--principal",
        "ops@example.org",
        "--role",
        "pact-viewer-ml",
      ],
      env: {
        PACT_OIDC_HMAC_SECRET: "test-secret-not-for-production",
        PACT_OIDC_ISSUER: "https://idp.test.pact",
        PACT_OIDC_AUDIENCE: "pact-cli",
      },
      stderr: "piped",
    }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    const token = new TextDecoder().decode(output.stdout).trim();
    const client = new JournalClient({ endpoint: journal.endpoint, token, timeoutSeconds: 5 });
    try {
      assert.equal((await client.getJournalStatus()).store, "sqlite");
      await assert.rejects(
        client.appendEntry({ entry: commit("n1") }),
        (err: unknown) => isPactError(err, "PERMISSION_DENIED"),
      );
    } finally {
      client.close();
    }
  });
});

Deno.test("pact-journal survives clients that close a connection after hundreds of calls", async () => {
  // Regression guard for the runtime: Deno 2.9.4-2.9.6's node:http2 aborts
  // (nghttp2 assertion in find_stream_on_goaway_func) when a GOAWAY arrives on
  // a connection that carried more than ~100 streams. Fast read calls make the
  // crash likely within a few rounds on such a runtime (docs/deno-version.md).
  await withJournal(async (journal) => {
    const token = await journal.token();
    for (let round = 0; round < 8; round++) {
      const client = new JournalClient({ endpoint: journal.endpoint, token, timeoutSeconds: 10 });
      await client.appendEntry({ entry: commit("n1", `round ${round}`) });
      for (let i = 0; i < 250; i++) await client.getJournalStatus();
      client.close();
      await new Promise((r) => setTimeout(r, 100));
    }
    const health = await (await fetch(`${journal.httpUrl}/health`)).json();
    assert.equal(health.entries, 8);
  });
});

Deno.test("a client holding an idle connection survives a graceful journal shutdown", async () => {
  // The other half of the same runtime bug: on Deno 2.9 the process that
  // *receives* the server's GOAWAY at shutdown crashed (even after one call,
  // more often after many). If this test process crashes, the run fails.
  const journal = await JournalProcess.start();
  const client = new JournalClient({
    endpoint: journal.endpoint,
    token: await journal.token(),
    timeoutSeconds: 5,
  });
  try {
    for (let call = 0; call < 150; call++) await client.getJournalStatus();
    const status = await journal.stop();
    assert.equal(status.code, 0, journal.log);
    await new Promise((r) => setTimeout(r, 500));
    await assert.rejects(
      client.getJournalStatus(),
      (err: unknown) => isPactError(err, "UNAVAILABLE"),
    );
  } finally {
    client.close();
    await journal.dispose();
  }
});
