import assert from "node:assert/strict";
import { isPactError } from "../../shared/errors/mod.ts";
import { withoutServer } from "./session.ts";
import {
  type CachedSession,
  parseCache,
  permissionMode,
  serverKey,
  TokenCache,
  type TokenCacheFile,
} from "./token_cache.ts";

const SESSION: CachedSession = {
  access_token: "at",
  refresh_token: "rt",
  expires_at: 2_000_000_000,
  scopes: ["openid"],
  idp_issuer: "https://idp.example.org",
  client_id: "pact-cli",
  token_endpoint: "https://idp.example.org/token",
  flow: "device-code",
};

const FILE: TokenCacheFile = {
  version: 1,
  default_server: "http://a:9443",
  servers: { "http://a:9443": SESSION, "http://b:9443": SESSION },
};

async function withDir(body: (dir: string, warnings: string[]) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "pact-token-cache-" });
  try {
    await body(`${dir}/pact`, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("TokenCache.write() creates the file with mode 0600 and read() returns it", async () => {
  await withDir(async (dir, warnings) => {
    const cache = new TokenCache(dir, "strict", (t) => warnings.push(t));
    assert.deepEqual(await cache.read(), { version: 1, default_server: undefined, servers: {} });
    await cache.write(FILE);
    assert.equal((await Deno.stat(cache.path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    assert.deepEqual(await cache.read(), FILE);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["tokens.json"]);
  });
});

Deno.test("TokenCache.read() refuses a group-readable cache in strict mode", async () => {
  await withDir(async (dir, warnings) => {
    const cache = new TokenCache(dir, "strict", (t) => warnings.push(t));
    await cache.write(FILE);
    await Deno.chmod(cache.path, 0o640);
    await assert.rejects(cache.read(), (err) => {
      assert.ok(isPactError(err, "UNAUTHENTICATED"));
      assert.match(err.message, /has mode 0640 \(readable by others\): refusing it/);
      return true;
    });
    // Login replaces such a cache (with a warning) rather than failing.
    assert.deepEqual((await cache.readForRewrite()).servers, {});
    assert.equal(warnings.length, 1);
  });
});

Deno.test("TokenCache.read() fixes a loose mode in lenient mode with a warning", async () => {
  await withDir(async (dir, warnings) => {
    const cache = new TokenCache(dir, "lenient", (t) => warnings.push(t));
    await cache.write(FILE);
    await Deno.chmod(cache.path, 0o604);
    assert.deepEqual(await cache.read(), FILE);
    assert.equal((await Deno.stat(cache.path)).mode! & 0o777, 0o600);
    assert.match(warnings[0]!, /had mode 0604; set it to 0600/);
  });
});

Deno.test("parseCache() fails closed on corrupt content", () => {
  for (
    const [text, why] of [
      ["{", /not JSON/],
      ["[]", /version undefined/],
      ['{"version":2,"servers":{}}', /version 2, expected 1/],
      ['{"version":1}', /no servers/],
      [
        '{"version":1,"servers":{"http://a":{"access_token":"x"}}}',
        /entry "http:\/\/a" is incomplete/,
      ],
    ] as const
  ) {
    assert.throws(() => parseCache(text, "/c/tokens.json"), (err) => {
      assert.ok(isPactError(err, "UNAUTHENTICATED"));
      assert.match(err.message, why);
      assert.match(err.message, /^Token cache \/c\/tokens\.json is corrupt .*: run `pact login`$/);
      return true;
    });
  }
});

Deno.test("TokenCache.withLock() runs holders one at a time", async () => {
  await withDir(async (dir) => {
    const cache = new TokenCache(dir, "strict", () => {});
    const order: string[] = [];
    const holder = (name: string) =>
      cache.withLock(async () => {
        order.push(`${name}+`);
        await new Promise((r) => setTimeout(r, 30));
        order.push(`${name}-`);
      });
    await Promise.all([holder("a"), holder("b"), holder("c")]);
    for (let i = 0; i < order.length; i += 2) {
      assert.equal(order[i]!.slice(0, -1), order[i + 1]!.slice(0, -1), order.join(" "));
    }
  });
});

Deno.test("serverKey() keys sessions by origin", () => {
  assert.equal(serverKey("http://journal-1:9443/"), "http://journal-1:9443");
  assert.equal(serverKey("journal-1:9443"), "http://journal-1:9443");
  assert.equal(serverKey("https://j.example.org"), "https://j.example.org");
  assert.throws(() => serverKey("http://"), /Invalid server/);
});

Deno.test("permissionMode() accepts strict and lenient only", () => {
  assert.equal(permissionMode(undefined), "strict");
  assert.equal(permissionMode("lenient"), "lenient");
  assert.throws(() => permissionMode("loose"), /use strict or lenient/);
});

Deno.test("withoutServer() drops one server and clears a default that named it", () => {
  const rest = withoutServer(FILE, "http://a:9443");
  assert.deepEqual(Object.keys(rest.servers), ["http://b:9443"]);
  assert.equal(rest.default_server, undefined);
  assert.equal(withoutServer(FILE, "http://b:9443").default_server, "http://a:9443");
});
