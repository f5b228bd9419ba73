/**
 * `pact login` / `pact logout` end to end: a real oidc-provider on
 * loopback, a real pact-journal that validates its tokens through JWKS,
 * and the real `bin/pact` as a subprocess (device code, client
 * credentials, Authorization Code + PKCE driven by a scripted browser),
 * then the cached tokens used, refreshed, guarded and revoked.
 */
import assert from "node:assert/strict";
import { runPact } from "./harness/cli_process.ts";
import { assertGolden } from "./harness/golden.ts";
import { JournalProcess, LineSplitter } from "./harness/journal_process.ts";
import { OidcTestProvider } from "./harness/oidc_provider.ts";
import { BIN } from "./harness/paths.ts";

const SERVICE_SECRET = "svc-secret-do-not-print-4f9a";

interface World {
  readonly idp: OidcTestProvider;
  readonly journal: JournalProcess;
  readonly home: string;
  /** Environment of a pact that logs in to `journal` through its discovery document. */
  readonly env: Record<string, string>;
}

async function withWorld(body: (world: World) => Promise<void>): Promise<void> {
  const idp = await OidcTestProvider.start({
    users: {
      "alice@example.org": { pactRole: "pact-platform-admin" },
      "bob@example.org": { groups: ["staff", "pact-platform-admin"] },
    },
    serviceAccounts: {
      "svc-ci": { secret: SERVICE_SECRET, pactRole: "pact-platform-admin" },
    },
  });
  const journal = await JournalProcess.start({ env: idp.journalEnv() });
  const home = await Deno.makeTempDir({ prefix: "pact-login-home-" });
  try {
    await body({
      idp,
      journal,
      home,
      env: {
        PACT_ENDPOINT: journal.endpoint,
        PACT_DISCOVERY_URL: `${journal.httpUrl}/auth/discovery`,
      },
    });
  } finally {
    await journal.dispose();
    await idp.close();
    await Deno.remove(home, { recursive: true });
  }
}

/** A running `bin/pact` whose stderr the test reads while it runs. */
class PactProcess {
  readonly #child: Deno.ChildProcess;
  readonly #lines: ReadableStreamDefaultReader<string>;
  stderr = "";

  constructor(args: string[], env: Record<string, string>, home: string) {
    this.#child = new Deno.Command(`${BIN}/pact`, {
      args,
      env: { HOME: home, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...env },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#lines = this.#child.stderr.pipeThrough(new TextDecoderStream())
      .pipeThrough(new LineSplitter()).getReader();
  }

  /** Reads stderr until a line matches `pattern` (within 20 s). */
  async waitFor(pattern: RegExp): Promise<RegExpExecArray> {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const { value, done } = await this.#lines.read();
      if (done) break;
      this.stderr += `${value}\n`;
      const match = pattern.exec(value);
      if (match) return match;
    }
    throw new Error(`pact never printed ${pattern}; stderr so far:\n${this.stderr}`);
  }

  async finish(): Promise<{ code: number; stdout: string; stderr: string }> {
    const [status, stdout] = await Promise.all([
      this.#child.status,
      new Response(this.#child.stdout).text(),
      (async () => {
        while (true) {
          const { value, done } = await this.#lines.read();
          if (done) return;
          this.stderr += `${value}\n`;
        }
      })(),
    ]);
    return { code: status.code, stdout, stderr: this.stderr };
  }
}

async function deviceLogin(world: World, user: string, extra: string[] = []) {
  const pact = new PactProcess(["login", "--device-code", ...extra], world.env, world.home);
  const [, complete] = await pact.waitFor(/^\s+\(or open (\S+)\)$/);
  const page = await world.idp.browse(complete!, user);
  assert.equal(page.status, 200, page.body);
  assert.match(page.body, /Signed in: return to your terminal/);
  return await pact.finish();
}

const cachePath = (home: string) => `${home}/.config/pact/tokens.json`;
const readCache = async (home: string) => JSON.parse(await Deno.readTextFile(cachePath(home)));

function metric(text: string, reason: string): number {
  const line = text.split("\n").find((l) =>
    l.startsWith(`pact_auth_failures_total{reason="${reason}"}`)
  );
  return line === undefined ? 0 : Number(line.split(" ").at(-1));
}

Deno.test("pact login --device-code logs in through the journal's discovery, and pact status uses the session", async () => {
  await withWorld(async (world) => {
    const login = await deviceLogin(world, "alice@example.org");
    assert.equal(login.code, 0, login.stderr);
    assert.match(
      login.stderr,
      /To sign in, open http:\/\/127\.0\.0\.1:\d+\/device and enter the code [A-Z]{4}-[A-Z]{4}/,
    );
    assert.match(
      login.stdout,
      new RegExp(
        `^Logged in to ${world.journal.endpoint} as alice@example.org \\(pact-platform-admin\\) with device-code\\.\\n`,
      ),
    );
    assert.match(login.stdout, /This is your default server\./);
    assert.equal(world.idp.counts.grants["urn:ietf:params:oauth:grant-type:device_code"], 1);

    const info = await Deno.stat(cachePath(world.home));
    assert.equal(info.mode! & 0o777, 0o600);
    const cache = await readCache(world.home);
    assert.equal(cache.version, 1);
    assert.equal(cache.default_server, world.journal.endpoint);
    const session = cache.servers[world.journal.endpoint];
    assert.equal(session.flow, "device-code");
    assert.equal(session.idp_issuer, world.idp.issuer);
    assert.ok(session.refresh_token, "a refresh token is cached");
    for (const token of [session.access_token, session.refresh_token]) {
      assert.ok(
        !login.stdout.includes(token) && !login.stderr.includes(token),
        "tokens never printed",
      );
    }

    const status = await runPact(["status"], world.env, world.home);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /Journal/);
    // Without an endpoint the default server (the first logged into) is used.
    const byDefault = await runPact(["status", "--json"], {}, world.home);
    assert.equal(byDefault.code, 0, byDefault.stderr);
    assert.equal(JSON.parse(byDefault.stdout).journal.endpoint, world.journal.endpoint);
  });
});

Deno.test("pact login with PACT_CLIENT_ID/PACT_CLIENT_SECRET uses client credentials and never prints the secret", async () => {
  await withWorld(async (world) => {
    const env = { ...world.env, PACT_CLIENT_ID: "svc-ci", PACT_CLIENT_SECRET: SERVICE_SECRET };
    const login = await runPact(["login", "--json"], env, world.home);
    assert.equal(login.code, 0, login.stderr);
    const result = JSON.parse(login.stdout);
    assert.equal(result.flow, "client-credentials");
    assert.equal(result.principal, "svc-ci");
    assert.deepEqual(result.roles, ["pact-platform-admin"]);
    assert.equal(result.refreshable, true);
    assert.equal(result.server, world.journal.endpoint);
    assert.equal(world.idp.counts.grants["client_credentials"], 1);
    const cacheText = await Deno.readTextFile(cachePath(world.home));
    for (const text of [login.stdout, login.stderr, cacheText, world.journal.log]) {
      assert.ok(!text.includes(SERVICE_SECRET), "the client secret appears nowhere");
    }
    const status = await runPact(["status"], env, world.home);
    assert.equal(status.code, 0, status.stderr);

    const missing = await runPact(
      ["login", "--service-account"],
      { ...world.env, PACT_CLIENT_ID: "svc-ci" },
      world.home,
    );
    assert.equal(missing.code, 2);
    assert.match(
      missing.stderr,
      /Service-account login needs PACT_CLIENT_ID and PACT_CLIENT_SECRET/,
    );
    const wrong = await runPact(
      ["login", "--service-account"],
      { ...world.env, PACT_CLIENT_ID: "svc-ci", PACT_CLIENT_SECRET: "not-the-secret" },
      world.home,
    );
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /Service-account login failed: the IdP answered invalid_client/);
    assert.ok(!wrong.stderr.includes("not-the-secret"));
  });
});

Deno.test("pact login --no-browser runs Authorization Code + PKCE through the loopback callback", async () => {
  await withWorld(async (world) => {
    const port = freePort();
    const pact = new PactProcess(
      ["login", "--no-browser", "--callback-port", String(port), "--idp", world.idp.issuer],
      { PACT_ENDPOINT: world.journal.endpoint },
      world.home,
    );
    await pact.waitFor(/^Open this URL in a browser to sign in:$/);
    const [, url] = await pact.waitFor(/^\s+(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)$/);
    const authorize = new URL(url!);
    assert.equal(authorize.searchParams.get("code_challenge_method"), "S256");
    assert.equal(authorize.searchParams.get("redirect_uri"), `http://localhost:${port}/callback`);
    const page = await world.idp.browse(url!, "bob@example.org");
    assert.equal(page.status, 200, page.body);
    assert.match(page.url, new RegExp(`^http://localhost:${port}/callback\\?code=`));
    assert.match(page.body, /Signed in to pact/);
    const login = await pact.finish();
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /as bob@example.org \(pact-platform-admin\) with auth-code/);
    assert.equal(world.idp.counts.grants["authorization_code"], 1);
    // bob's role comes from his `groups` claim; the journal accepts it.
    const status = await runPact(["status"], {}, world.home);
    assert.equal(status.code, 0, status.stderr);
  });
});

Deno.test("concurrent pact commands refresh an expiring session exactly once", async () => {
  await withWorld(async (world) => {
    assert.equal((await deviceLogin(world, "alice@example.org")).code, 0);
    const before = await readCache(world.home);
    const session = before.servers[world.journal.endpoint];
    // Make the cached access token look expired (the real one still is not).
    session.expires_at = Math.floor(Date.now() / 1000) - 5;
    await Deno.writeTextFile(cachePath(world.home), JSON.stringify(before), { mode: 0o600 });

    const runs = await Promise.all(
      Array.from({ length: 4 }, () => runPact(["status"], world.env, world.home)),
    );
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    assert.equal(world.idp.counts.grants["refresh_token"], 1, "one refresh for four processes");
    assert.equal(world.idp.counts.reusedRefreshTokens, 0, "no rotated refresh token reused");
    const after = (await readCache(world.home)).servers[world.journal.endpoint];
    assert.notEqual(
      after.refresh_token,
      session.refresh_token,
      "the rotated refresh token is kept",
    );
    assert.notEqual(after.access_token, session.access_token);
    assert.ok(after.expires_at > Date.now() / 1000 + 60);
    assert.equal((await Deno.stat(cachePath(world.home))).mode! & 0o777, 0o600);
  });
});

Deno.test("pact logout deletes the session and revokes the refresh token at the IdP", async () => {
  await withWorld(async (world) => {
    assert.equal((await deviceLogin(world, "alice@example.org")).code, 0);
    const { refresh_token: refreshToken } =
      (await readCache(world.home)).servers[world.journal.endpoint];
    const logout = await runPact(["logout"], world.env, world.home);
    assert.equal(logout.code, 0, logout.stderr);
    assert.match(
      logout.stdout,
      /^Logged out of http:\/\/127\.0\.0\.1:\d+: local tokens deleted; the refresh token was revoked at the IdP\.\n$/,
    );
    assert.equal(world.idp.counts.revocations, 1);
    assert.deepEqual((await readCache(world.home)).servers, {});
    // The revoked refresh token no longer works at the IdP.
    const reuse = await fetch(`${world.idp.issuer}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: refreshToken,
        client_id: "pact-cli",
      }),
    });
    assert.equal(reuse.status, 400);
    assert.equal((await reuse.json()).error, "invalid_grant");

    const status = await runPact(["status"], world.env, world.home);
    assert.equal(status.code, 2);
    assert.match(status.stderr, /Not authenticated: run `pact login`/);
    const again = await runPact(["logout"], world.env, world.home);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /Not logged in to/);
  });
});

Deno.test("an expired session whose refresh token was revoked asks for pact login (exit 2)", async () => {
  await withWorld(async (world) => {
    assert.equal((await deviceLogin(world, "alice@example.org")).code, 0);
    const cache = await readCache(world.home);
    const session = cache.servers[world.journal.endpoint];
    const revoked = await fetch(`${world.idp.issuer}/token/revocation`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: session.refresh_token, client_id: "pact-cli" }),
    });
    assert.equal(revoked.status, 200);
    await revoked.body?.cancel();
    session.expires_at = Math.floor(Date.now() / 1000) - 5;
    await Deno.writeTextFile(cachePath(world.home), JSON.stringify(cache), { mode: 0o600 });
    const status = await runPact(["status"], world.env, world.home);
    assert.equal(status.code, 2);
    assert.match(
      status.stderr,
      /^pact: Session expired for http:\/\/127\.0\.0\.1:\d+: run `pact login` \(if the IdP is down, use the BMC console\)\n$/,
    );
  });
});

Deno.test("pact login --device-code fails with exit 2 when the user is refused at the IdP", async () => {
  await withWorld(async (world) => {
    const pact = new PactProcess(["login", "--device-code"], world.env, world.home);
    const [, complete] = await pact.waitFor(/^\s+\(or open (\S+)\)$/);
    await world.idp.browse(complete!, "nobody@example.org");
    const login = await pact.finish();
    assert.equal(login.code, 2);
    assert.match(login.stderr, /pact: Device code login refused: access denied at the IdP/);
    await assert.rejects(Deno.stat(cachePath(world.home)), Deno.errors.NotFound);
  });
});

Deno.test("pact logout works while the IdP is down; the revocation is reported as failed", async () => {
  await withWorld(async (world) => {
    assert.equal((await deviceLogin(world, "alice@example.org")).code, 0);
    await world.idp.close();
    const logout = await runPact(["logout", "--json"], world.env, world.home);
    assert.equal(logout.code, 0, logout.stderr);
    const result = JSON.parse(logout.stdout);
    assert.equal(result.logged_out, true);
    assert.match(result.revocation, /^failed: Revoking the refresh token: .* is unreachable/);
    assert.deepEqual((await readCache(world.home)).servers, {});
  });
});

Deno.test("a token cache readable by others is refused in strict mode and repaired in lenient mode", async () => {
  await withWorld(async (world) => {
    assert.equal((await deviceLogin(world, "alice@example.org")).code, 0);
    await Deno.chmod(cachePath(world.home), 0o644);
    const strict = await runPact(["status"], world.env, world.home);
    assert.equal(strict.code, 2);
    assert.match(strict.stderr, /tokens\.json has mode 0644 \(readable by others\): refusing it/);

    const lenient = await runPact(
      ["status"],
      { ...world.env, PACT_TOKEN_CACHE_PERMISSIONS: "lenient" },
      world.home,
    );
    assert.equal(lenient.code, 0, lenient.stderr);
    assert.match(lenient.stderr, /Warning: token cache .* had mode 0644; set it to 0600/);
    assert.equal((await Deno.stat(cachePath(world.home))).mode! & 0o777, 0o600);

    await Deno.writeTextFile(cachePath(world.home), "{not json", { mode: 0o600 });
    const corrupt = await runPact(["status"], world.env, world.home);
    assert.equal(corrupt.code, 2);
    assert.match(corrupt.stderr, /Token cache .* is corrupt \(not JSON\): run `pact login`/);
  });
});

Deno.test("the journal refuses hostile tokens with exit 2 and counts each reason", async () => {
  await withWorld(async (world) => {
    const { idp, journal } = world;
    const now = Math.floor(Date.now() / 1000);
    const admin = { sub: "mallory@example.org", pact_role: "pact-platform-admin" };
    const b64 = (v: unknown) =>
      btoa(JSON.stringify(v)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
    const good = await idp.sign(admin);
    const [header, payload, signature] = good.split(".");
    const jwks = await (await fetch(idp.jwksUrl)).json();
    const publicKeyText = new TextEncoder().encode(JSON.stringify(jwks.keys[0]));
    const hmac = await crypto.subtle.importKey(
      "raw",
      publicKeyText,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const confusedInput = `${b64({ alg: "HS256", kid: jwks.keys[0].kid })}.${payload}`;
    const confusedSig = new Uint8Array(
      await crypto.subtle.sign("HMAC", hmac, new TextEncoder().encode(confusedInput)),
    );
    const confused = `${confusedInput}.${
      btoa(String.fromCharCode(...confusedSig)).replace(/=+$/, "").replace(/\+/g, "-").replace(
        /\//g,
        "_",
      )
    }`;
    const cases: [string, string, RegExp][] = [
      ["alg none", `${b64({ alg: "none" })}.${payload}.`, /algorithm "none" is not accepted/],
      ["HS/RS confusion", confused, /HS256 is accepted only with a development secret/],
      ["expired", await idp.sign({ ...admin, iat: now - 7200, exp: now - 3600 }), /expired/],
      ["wrong audience", await idp.sign({ ...admin, aud: "lattice" }), /unexpected audience/],
      [
        "wrong issuer",
        await idp.sign({ ...admin, iss: "https://evil.example" }),
        /unexpected issuer/,
      ],
      [
        "tampered payload",
        `${header}.${
          b64({ ...admin, iss: idp.issuer, aud: idp.audience, exp: now + 600, sub: "root" })
        }.${signature}`,
        /signature verification failed/,
      ],
      [
        "oversized",
        await idp.sign({ ...admin, pad: "x".repeat(9000) }),
        /exceeds the 8192-byte limit/,
      ],
      [
        "unknown kid",
        await idp.sign(admin, { header: { kid: "forged-key" } }),
        /no RS256 key with kid "forged-key"/,
      ],
    ];
    for (const [what, token, message] of cases) {
      const result = await runPact(["status", "--token", token], {
        PACT_ENDPOINT: journal.endpoint,
      });
      assert.equal(result.code, 2, `${what}: ${result.stderr}`);
      assert.match(result.stderr, message, what);
      assert.equal(result.stderr.trim().split("\n").length, 1, `${what}: one line`);
    }
    const ok = await runPact(["status", "--token", good], { PACT_ENDPOINT: journal.endpoint });
    assert.equal(ok.code, 0, ok.stderr);
    const es = await runPact(["status", "--token", await idp.sign(admin, { alg: "ES256" })], {
      PACT_ENDPOINT: journal.endpoint,
    });
    assert.equal(es.code, 0, es.stderr);

    // `pact status` makes the same number of calls for each token, each refused and counted.
    const metrics = await (await fetch(`${journal.httpUrl}/metrics`)).text();
    const perRun = metric(metrics, "expired");
    assert.ok(perRun >= 1, "refusals are counted");
    assert.equal(metric(metrics, "bad_algorithm"), 2 * perRun);
    for (
      const reason of [
        "wrong_audience",
        "wrong_issuer",
        "bad_signature",
        "too_large",
        "unknown_key",
      ]
    ) {
      assert.equal(metric(metrics, reason), perRun, reason);
    }
  });
});

Deno.test("pact login fails with exit 2 and a clear reason when the journal or IdP is unreachable", async () => {
  const home = await Deno.makeTempDir({ prefix: "pact-login-home-" });
  try {
    const port = freePort();
    const result = await runPact(
      [
        "login",
        "--server",
        `http://127.0.0.1:${port}`,
        "--discovery-url",
        `http://127.0.0.1:${port}/auth/discovery`,
      ],
      {},
      home,
    );
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /^pact: Cannot discover the IdP from the journal: http:\/\/127\.0\.0\.1:\d+\/auth\/discovery is unreachable .*BMC console\n$/,
    );
    const idp = await runPact(["login", "--idp", `http://127.0.0.1:${port}`], {}, home);
    assert.equal(idp.code, 2);
    assert.match(idp.stderr, /Cannot read the IdP's OpenID configuration: .* is unreachable/);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("pact login and logout help match their golden text", async () => {
  for (
    const [file, args] of [["help-login.txt", ["login", "--help"]], ["help-logout.txt", [
      "logout",
      "--help",
    ]]] as const
  ) {
    const result = await runPact([...args]);
    assert.equal(result.code, 0, result.stderr);
    await assertGolden(file, result.stdout);
  }
});

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}
