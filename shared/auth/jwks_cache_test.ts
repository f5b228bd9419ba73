import assert from "node:assert/strict";
import * as jose from "jose";
import { ManualClock } from "../clock/clock.ts";
import { pinnedAlg } from "./jwks_cache.ts";
import { TokenRefusedError, TokenVerifier } from "./token_verifier.ts";

const ISSUER = "https://idp.example.org";
const AUDIENCE = "pact-cli";
const NOW = Date.UTC(2026, 10, 22, 12);

type Alg = "RS256" | "ES256";
type PrivateKey = Awaited<ReturnType<typeof jose.generateKeyPair>>["privateKey"];

interface SigningKey {
  readonly kid: string;
  readonly alg: Alg;
  readonly privateKey: PrivateKey;
  readonly publicJwk: jose.JWK;
}

async function signingKey(alg: Alg, kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await jose.exportJWK(publicKey)), kid } };
}

/** A real JWKS endpoint on loopback whose keys and availability the test controls. */
class JwksServer {
  keys: jose.JWK[] = [];
  up = true;
  requests = 0;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;

  constructor() {
    this.#server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
      this.requests++;
      return this.up
        ? Response.json({ keys: this.keys })
        : new Response("down for maintenance", { status: 503 });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}/jwks`;
  }

  close(): Promise<void> {
    return this.#server.shutdown();
  }
}

function sign(
  key: SigningKey,
  claims: jose.JWTPayload = {},
  header: Partial<jose.JWTHeaderParameters> = {},
  nowMs = NOW,
): Promise<string> {
  const now = Math.floor(nowMs / 1000);
  return new jose.SignJWT({ pact_role: "pact-ops-ml", ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, ...header })
    .setSubject("alice@example.org")
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(key.privateKey);
}

async function refusal(promise: Promise<unknown>): Promise<TokenRefusedError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof TokenRefusedError, `expected TokenRefusedError, got ${err}`);
    return err;
  }
  assert.fail("expected the token to be refused");
}

async function withJwks(
  fn: (
    jwks: JwksServer,
    keys: { rsa: SigningKey; ec: SigningKey },
    clock: ManualClock,
  ) => Promise<void>,
): Promise<void> {
  const jwks = new JwksServer();
  const rsa = await signingKey("RS256", "rsa-1");
  const ec = await signingKey("ES256", "ec-1");
  jwks.keys = [rsa.publicJwk, ec.publicJwk];
  try {
    await fn(jwks, { rsa, ec }, new ManualClock(NOW));
  } finally {
    await jwks.close();
  }
}

const verifierFor = (jwks: JwksServer, clock: ManualClock, hmacSecret?: string) =>
  new TokenVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    jwksUrl: jwks.url,
    hmacSecret,
    clock,
    jwks: { maxAgeMs: 600_000, cooldownMs: 30_000 },
  });

Deno.test("TokenVerifier.verify() accepts RS256 and ES256 tokens signed by JWKS keys", async () => {
  await withJwks(async (jwks, { rsa, ec }, clock) => {
    const verifier = verifierFor(jwks, clock);
    assert.equal((await verifier.verify(await sign(rsa))).role, "pact-ops-ml");
    assert.equal((await verifier.verify(await sign(ec))).principal, "alice@example.org");
    assert.equal(jwks.requests, 1, "the JWKS is fetched once and cached");
  });
});

Deno.test("TokenVerifier.verify() keeps using cached keys while the JWKS endpoint is down", async () => {
  await withJwks(async (jwks, { rsa }, clock) => {
    const failures: string[] = [];
    const verifier = new TokenVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      jwksUrl: jwks.url,
      clock,
      jwks: {
        maxAgeMs: 600_000,
        cooldownMs: 30_000,
        onFetchFailed: (e) => failures.push(e.message),
      },
    });
    await verifier.verify(await sign(rsa));
    jwks.up = false;
    clock.advance(3_600_000);
    const token = await sign(rsa, {}, {}, clock.now());
    assert.equal((await verifier.verify(token)).principal, "alice@example.org");
    // The background refresh has failed by now; the stale key still serves.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(failures, ["HTTP 503"]);
    assert.equal((await verifier.verify(token)).principal, "alice@example.org");
    assert.equal(jwks.requests, 2, "a failed refresh is not retried within the cooldown");
  });
});

Deno.test("TokenVerifier.verify() refetches the JWKS once for an unknown kid, rate-limited", async () => {
  await withJwks(async (jwks, { rsa }, clock) => {
    const verifier = verifierFor(jwks, clock);
    await verifier.verify(await sign(rsa));
    const rotated = await signingKey("RS256", "rsa-2");
    jwks.keys = [rsa.publicJwk, rotated.publicJwk];
    clock.advance(31_000);
    assert.equal(
      (await verifier.verify(await sign(rotated, {}, {}, clock.now()))).role,
      "pact-ops-ml",
    );
    assert.equal(jwks.requests, 2);

    const forged = await signingKey("RS256", "forged");
    for (let i = 0; i < 5; i++) {
      const err = await refusal(verifier.verify(await sign(forged, {}, {}, clock.now())));
      assert.equal(err.reason, "unknown_key");
      assert.match(err.message, /no RS256 key with kid "forged"/);
    }
    assert.equal(jwks.requests, 2, "unknown kids within the cooldown fetch nothing");
    clock.advance(31_000);
    await refusal(verifier.verify(await sign(forged, {}, {}, clock.now())));
    assert.equal(jwks.requests, 3, "one refetch per cooldown");
  });
});

Deno.test("TokenVerifier.verify() refuses tokens when the JWKS was never reachable", async () => {
  await withJwks(async (jwks, { rsa }, clock) => {
    jwks.up = false;
    const err = await refusal(verifierFor(jwks, clock).verify(await sign(rsa)));
    assert.equal(err.reason, "keys_unavailable");
    assert.match(
      err.message,
      /^Token refused: the signing keys cannot be fetched from .*: HTTP 503$/,
    );
  });
});

Deno.test("TokenVerifier.verify() pins each JWKS key to its algorithm", async () => {
  await withJwks(async (jwks, { rsa, ec }, clock) => {
    const verifier = verifierFor(jwks, clock);
    // An ES256 header naming the RSA key's kid finds no ES256 key.
    const confused = await sign(ec, {}, { kid: rsa.kid });
    assert.equal((await refusal(verifier.verify(confused))).reason, "unknown_key");
    // HS256 signed with the RSA public key as the secret: the classic confusion.
    const pem = new TextEncoder().encode(JSON.stringify(rsa.publicJwk));
    const hs = await new jose.SignJWT({ pact_role: "pact-platform-admin" })
      .setProtectedHeader({ alg: "HS256", kid: rsa.kid })
      .setSubject("mallory")
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime(NOW / 1000 + 60)
      .sign(pem);
    const err = await refusal(verifier.verify(hs));
    assert.equal(err.reason, "bad_algorithm");
    assert.match(err.message, /HS256 is accepted only with a development secret/);
    // RS384 and PS256 are not pact algorithms even with a matching RSA key.
    const rs384 = await new jose.SignJWT({ pact_role: "pact-platform-admin" })
      .setProtectedHeader({ alg: "RS384", kid: rsa.kid })
      .setSubject("mallory")
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime(NOW / 1000 + 60)
      .sign((await jose.generateKeyPair("RS384")).privateKey);
    assert.equal((await refusal(verifier.verify(rs384))).reason, "bad_algorithm");
  });
});

Deno.test("TokenVerifier.verify() refuses alg none and tampered tokens with JWKS keys", async () => {
  await withJwks(async (jwks, { rsa }, clock) => {
    const verifier = verifierFor(jwks, clock);
    const b64 = (v: unknown) => jose.base64url.encode(JSON.stringify(v));
    const none = `${b64({ alg: "none", kid: rsa.kid })}.${
      b64({
        sub: "m",
        iss: ISSUER,
        aud: AUDIENCE,
        exp: NOW / 1000 + 60,
        pact_role: "pact-platform-admin",
      })
    }.`;
    const noneErr = await refusal(verifier.verify(none));
    assert.equal(noneErr.reason, "bad_algorithm");
    assert.match(noneErr.message, /"none" is not accepted/);
    const [header, , signature] = (await sign(rsa)).split(".");
    const tampered = `${header}.${
      b64({
        sub: "m",
        iss: ISSUER,
        aud: AUDIENCE,
        exp: NOW / 1000 + 60,
        pact_role: "pact-platform-admin",
      })
    }.${signature}`;
    assert.equal((await refusal(verifier.verify(tampered))).reason, "bad_signature");
  });
});

Deno.test("TokenVerifier.verify() reads roles from groups and infers service principals", async () => {
  await withJwks(async (jwks, { rsa }, clock) => {
    const verifier = verifierFor(jwks, clock);
    const grouped = await verifier.verify(
      await sign(rsa, {
        pact_role: undefined,
        groups: ["staff", "pact-viewer-bio", "pact-ops-ml"],
      }),
    );
    assert.equal(grouped.role, "pact-ops-ml", "the most privileged pact group is the role");
    assert.deepEqual(grouped.roles, ["pact-ops-ml", "pact-viewer-bio"]);
    assert.equal(grouped.principalType, "human");
    const service = await verifier.verify(
      await new jose.SignJWT({ pact_role: "pact-service-ai", client_id: "svc-ci" })
        .setProtectedHeader({ alg: "RS256", kid: rsa.kid })
        .setSubject("svc-ci")
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setExpirationTime(NOW / 1000 + 60)
        .sign(rsa.privateKey),
    );
    assert.equal(service.principalType, "service");
    const claimed = await verifier.verify(await sign(rsa, { pact_principal_type: "agent" }));
    assert.equal(claimed.principalType, "agent");
    const none = await refusal(
      verifier.verify(await sign(rsa, { pact_role: undefined, groups: ["staff"] })),
    );
    assert.equal(none.reason, "missing_claims");
  });
});

Deno.test("TokenVerifier refuses a clock tolerance beyond five minutes as misuse", () => {
  assert.throws(
    () => new TokenVerifier({ issuer: ISSUER, audience: AUDIENCE, clockToleranceSeconds: 301 }),
    RangeError,
  );
});

Deno.test("pinnedAlg() maps RSA to RS256, P-256 to ES256 and ignores everything else", () => {
  assert.equal(pinnedAlg({ kty: "RSA" }), "RS256");
  assert.equal(pinnedAlg({ kty: "RSA", alg: "RS256", use: "sig" }), "RS256");
  assert.equal(pinnedAlg({ kty: "EC", crv: "P-256" }), "ES256");
  assert.equal(pinnedAlg({ kty: "RSA", alg: "PS256" }), undefined);
  assert.equal(pinnedAlg({ kty: "RSA", use: "enc" }), undefined);
  assert.equal(pinnedAlg({ kty: "EC", crv: "P-384" }), undefined);
  assert.equal(pinnedAlg({ kty: "oct", k: "c2VjcmV0" }), undefined);
});
