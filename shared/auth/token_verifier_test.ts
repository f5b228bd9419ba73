import assert from "node:assert/strict";
import * as jose from "jose";
import { ManualClock } from "../clock/clock.ts";
import { mintDevToken } from "./dev_token.ts";
import { type RefusalReason, TokenRefusedError, TokenVerifier } from "./token_verifier.ts";

const SECRET = "unit-test-secret";
const ISSUER = "https://idp.example.org";
const AUDIENCE = "pact-cli";
const NOW = Date.UTC(2026, 10, 22, 12);

const verifier = (options: Partial<ConstructorParameters<typeof TokenVerifier>[0]> = {}) =>
  new TokenVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    hmacSecret: SECRET,
    clock: new ManualClock(NOW),
    ...options,
  });

const token = (overrides: Partial<Parameters<typeof mintDevToken>[0]> = {}) =>
  mintDevToken({
    secret: SECRET,
    issuer: ISSUER,
    audience: AUDIENCE,
    principal: "alice@example.org",
    role: "pact-ops-ml",
    nowMs: NOW,
    ...overrides,
  });

async function refusal(promise: Promise<unknown>): Promise<TokenRefusedError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof TokenRefusedError, `expected TokenRefusedError, got ${err}`);
    return err;
  }
  assert.fail("expected the token to be refused");
}

const b64url = (value: unknown) =>
  btoa(JSON.stringify(value)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");

Deno.test("TokenVerifier.verify() returns the principal, role and type of a valid token", async () => {
  const principal = await verifier().verify(await token({ principalType: "service" }));
  assert.deepEqual(principal, {
    principal: "alice@example.org",
    principalType: "service",
    role: "pact-ops-ml",
  });
});

Deno.test("TokenVerifier.verify() takes the role from `groups` when `pact_role` is absent", async () => {
  const jwt = await new jose.SignJWT({ groups: ["staff", "pact-viewer-ml"] })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject("bob@example.org")
    .setIssuer(ISSUER)
    .setAudience([AUDIENCE, "other"])
    .setIssuedAt(NOW / 1000)
    .setExpirationTime(NOW / 1000 + 60)
    .sign(new TextEncoder().encode(SECRET));
  assert.equal((await verifier().verify(jwt)).role, "pact-viewer-ml");
});

const refused: [
  string,
  RefusalReason,
  "UNAUTHENTICATED" | "TOKEN_INVALID" | "TOKEN_EXPIRED",
  () => Promise<string | undefined>,
][] = [
  ["a missing token", "missing", "UNAUTHENTICATED", () => Promise.resolve(undefined)],
  ["an empty token", "missing", "UNAUTHENTICATED", () => Promise.resolve("")],
  ["garbage", "malformed", "TOKEN_INVALID", () => Promise.resolve("not-a-jwt")],
  [
    "an expired token",
    "expired",
    "TOKEN_EXPIRED",
    () => token({ nowMs: NOW - 7200_000, ttlSeconds: 3600 }),
  ],
  [
    "a token for another audience",
    "wrong_audience",
    "TOKEN_INVALID",
    () => token({ audience: "lattice" }),
  ],
  [
    "a token from another issuer",
    "wrong_issuer",
    "TOKEN_INVALID",
    () => token({ issuer: "https://evil" }),
  ],
  [
    "a token signed with another secret",
    "bad_signature",
    "TOKEN_INVALID",
    () => token({ secret: "other" }),
  ],
  ["a token without a role", "missing_claims", "TOKEN_INVALID", () => token({ role: "" })],
  [
    "a token larger than 8 KiB",
    "too_large",
    "TOKEN_INVALID",
    async () => `${await token()}${"A".repeat(9000)}`,
  ],
  ["a token not valid yet", "not_yet_valid", "TOKEN_INVALID", async () => {
    return await new jose.SignJWT({ pact_role: "pact-platform-admin" })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("a@b")
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setNotBefore(NOW / 1000 + 3600)
      .setExpirationTime(NOW / 1000 + 7200)
      .sign(new TextEncoder().encode(SECRET));
  }],
  ["alg none", "bad_algorithm", "TOKEN_INVALID", () => {
    const claims = {
      sub: "a@b",
      iss: ISSUER,
      aud: AUDIENCE,
      exp: NOW / 1000 + 60,
      pact_role: "pact-platform-admin",
    };
    return Promise.resolve(`${b64url({ alg: "none", typ: "JWT" })}.${b64url(claims)}.`);
  }],
  [
    "an RS256 header signed with the HMAC secret (key confusion)",
    "bad_algorithm",
    "TOKEN_INVALID",
    async () => {
      const [, payload, signature] = (await token()).split(".");
      return `${b64url({ alg: "RS256", typ: "JWT" })}.${payload}.${signature}`;
    },
  ],
  ["a tampered payload", "bad_signature", "TOKEN_INVALID", async () => {
    const [header, , signature] = (await token()).split(".");
    const claims = {
      sub: "mallory",
      iss: ISSUER,
      aud: AUDIENCE,
      exp: NOW / 1000 + 60,
      pact_role: "pact-platform-admin",
    };
    return `${header}.${b64url(claims)}.${signature}`;
  }],
];

for (const [what, reason, code, make] of refused) {
  Deno.test(`TokenVerifier.verify() refuses ${what}`, async () => {
    const err = await refusal(verifier().verify(await make()));
    assert.equal(err.reason, reason);
    assert.equal(err.code, code);
    assert.match(err.message, /token/i);
  });
}

Deno.test("TokenVerifier.verify() accepts expiry within the allowed clock skew", async () => {
  const jwt = await token({ nowMs: NOW - 3630_000, ttlSeconds: 3600 });
  assert.equal((await verifier().verify(jwt)).principal, "alice@example.org");
  await refusal(verifier({ clockToleranceSeconds: 0 }).verify(jwt));
});

Deno.test("TokenVerifier.verify() refuses everything when no key source is configured", async () => {
  const unconfigured = verifier({ hmacSecret: undefined });
  assert.equal(unconfigured.configured, false);
  const err = await refusal(unconfigured.verify(await token()));
  assert.equal(err.reason, "not_configured");
});

Deno.test("TokenVerifier error messages never echo the token", async () => {
  const jwt = await token({ secret: "other" });
  const err = await refusal(verifier().verify(jwt));
  assert.ok(!err.message.includes(jwt.split(".")[2]!));
});
