import * as jose from "jose";
import type { Clock } from "../clock/clock.ts";
import { PactError } from "../errors/mod.ts";
import { parseRole } from "../domain/roles.ts";
import {
  type AsymmetricAlg,
  JwksCache,
  type JwksCacheOptions,
  KeyLookupError,
} from "./jwks_cache.ts";
import { parsePrincipalType, type Principal, type PrincipalType } from "./principal.ts";

/** Why a token was refused; each value is a label of the auth-failure metric. */
export type RefusalReason =
  | "missing"
  | "not_configured"
  | "too_large"
  | "malformed"
  | "bad_algorithm"
  | "bad_signature"
  | "expired"
  | "not_yet_valid"
  | "wrong_issuer"
  | "wrong_audience"
  | "missing_claims"
  | "unknown_key"
  | "keys_unavailable";

/** A refused token: code UNAUTHENTICATED, TOKEN_INVALID or TOKEN_EXPIRED. */
export class TokenRefusedError extends PactError {
  readonly reason: RefusalReason;

  constructor(reason: RefusalReason, message: string) {
    super(
      reason === "expired"
        ? "TOKEN_EXPIRED"
        : reason === "missing"
        ? "UNAUTHENTICATED"
        : "TOKEN_INVALID",
      message,
    );
    this.reason = reason;
  }
}

/** How tokens are checked. */
export interface TokenVerifierOptions {
  /** Expected `iss`. */
  readonly issuer: string;
  /** Expected `aud` (one of the token's audiences). */
  readonly audience: string;
  /** Dev/test HS256 shared secret; without it HS256 tokens are refused. */
  readonly hmacSecret?: string | undefined;
  /** JWKS URL for RS256/ES256 keys; without it RS256/ES256 tokens are refused. */
  readonly jwksUrl?: string | undefined;
  /** JWKS caching, refresh and fetching; see JwksCacheOptions. */
  readonly jwks?: Omit<JwksCacheOptions, "url" | "clock">;
  /** Largest accepted token in bytes. Default 8192. */
  readonly maxTokenBytes?: number;
  /** Accepted clock skew in seconds for `exp`/`nbf`, 0-300. Default 60. */
  readonly clockToleranceSeconds?: number;
  readonly clock?: Clock;
}

const DEFAULT_MAX_TOKEN_BYTES = 8192;
const DEFAULT_CLOCK_TOLERANCE_SECONDS = 60;
/** Skew beyond five minutes would let expired tokens live on: refused as misuse. */
const MAX_CLOCK_TOLERANCE_SECONDS = 300;

/**
 * Validates bearer JWTs: the signature (HS256 with the development secret,
 * RS256/ES256 with the IdP's JWKS), `alg` pinned to the key type, `iss`,
 * `aud`, `exp` and `nbf` with a bounded skew, and extracts the principal.
 * Every refusal is a TokenRefusedError with a one-line reason.
 */
export class TokenVerifier {
  readonly #options: TokenVerifierOptions;
  readonly #hmacKey: Uint8Array | undefined;
  readonly #jwks: JwksCache | undefined;
  readonly #toleranceSeconds: number;

  constructor(options: TokenVerifierOptions) {
    const tolerance = options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
    if (!(tolerance >= 0 && tolerance <= MAX_CLOCK_TOLERANCE_SECONDS)) {
      throw new RangeError(
        `clockToleranceSeconds must be 0-${MAX_CLOCK_TOLERANCE_SECONDS}: got ${tolerance}`,
      );
    }
    this.#options = options;
    this.#toleranceSeconds = tolerance;
    this.#hmacKey = options.hmacSecret ? new TextEncoder().encode(options.hmacSecret) : undefined;
    this.#jwks = options.jwksUrl
      ? new JwksCache({
        ...options.jwks,
        url: options.jwksUrl,
        ...(options.clock ? { clock: options.clock } : {}),
      })
      : undefined;
  }

  /** True when some key source is configured. */
  get configured(): boolean {
    return this.#hmacKey !== undefined || this.#jwks !== undefined;
  }

  /** Validates `token` and returns its principal, or throws TokenRefusedError. */
  async verify(token: string | undefined): Promise<Principal> {
    if (token === undefined || token === "") {
      throw new TokenRefusedError(
        "missing",
        "Missing bearer token: run `pact login` or set PACT_TOKEN",
      );
    }
    const maxBytes = this.#options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES;
    if (token.length > maxBytes) {
      throw new TokenRefusedError(
        "too_large",
        `Token refused: ${token.length} bytes exceeds the ${maxBytes}-byte limit`,
      );
    }
    if (!this.configured) {
      throw new TokenRefusedError(
        "not_configured",
        "Token refused: no token validation is configured (set PACT_OIDC_HMAC_SECRET or PACT_OIDC_JWKS_URL)",
      );
    }
    const payload = await this.#verifySignature(token);
    return principalOf(payload);
  }

  async #verifySignature(token: string): Promise<jose.JWTPayload> {
    const options = this.#options;
    const header = decodeHeader(token);
    const alg = header.alg;
    const verifyOptions: jose.JWTVerifyOptions = {
      issuer: options.issuer,
      audience: options.audience,
      clockTolerance: this.#toleranceSeconds,
      requiredClaims: ["sub", "exp"],
      ...(options.clock ? { currentDate: new Date(options.clock.now()) } : {}),
    };
    let key: jose.CryptoKey | Uint8Array;
    if (alg === "HS256") {
      if (!this.#hmacKey) {
        throw new TokenRefusedError(
          "bad_algorithm",
          "Token refused: HS256 is accepted only with a development secret, and none is configured",
        );
      }
      key = this.#hmacKey;
    } else if (alg === "RS256" || alg === "ES256") {
      if (!this.#jwks) {
        throw new TokenRefusedError(
          "bad_algorithm",
          `Token refused: ${alg} needs the IdP's keys, and no JWKS URL is configured`,
        );
      }
      key = await this.#jwksKey(header.kid, alg);
    } else {
      throw new TokenRefusedError(
        "bad_algorithm",
        `Token refused: algorithm ${
          JSON.stringify(String(alg).slice(0, 32))
        } is not accepted (RS256, ES256, or HS256 in development)`,
      );
    }
    try {
      return (await jose.jwtVerify(token, key, { ...verifyOptions, algorithms: [alg] })).payload;
    } catch (err) {
      throw refusalFrom(err);
    }
  }

  async #jwksKey(
    kid: string | undefined,
    alg: AsymmetricAlg,
  ): Promise<jose.CryptoKey | Uint8Array> {
    try {
      return (await this.#jwks!.keyFor(kid, alg)).key;
    } catch (err) {
      if (!(err instanceof KeyLookupError)) throw err;
      throw new TokenRefusedError(err.failure, `Token refused: ${err.message}`);
    }
  }
}

function decodeHeader(token: string): jose.ProtectedHeaderParameters {
  try {
    return jose.decodeProtectedHeader(token);
  } catch {
    throw new TokenRefusedError("malformed", "Token refused: not a well-formed JWT");
  }
}

function principalOf(payload: jose.JWTPayload): Principal {
  const sub = payload.sub;
  const roles = rolesOf(payload);
  if (!sub || roles.length === 0) {
    throw new TokenRefusedError(
      "missing_claims",
      "Token refused: claim `sub` and a pact role (`pact_role`, or a `groups` entry such as pact-ops-ml) are required",
    );
  }
  return {
    principal: sub,
    principalType: principalTypeOf(payload),
    role: roles[0]!,
    ...(roles.length > 1 ? { roles } : {}),
  };
}

/**
 * Every pact role of the token: `pact_role` (a string or a list) first,
 * then `groups` entries named like a pact role, most privileged first.
 */
export function rolesOf(payload: jose.JWTPayload): string[] {
  const listed = (value: unknown): string[] =>
    (Array.isArray(value) ? value : [value]).filter((v): v is string =>
      typeof v === "string" && v !== ""
    );
  const claimed = listed(payload["pact_role"]);
  const grouped = listed(payload["groups"])
    .filter((g) => g.startsWith("pact-"))
    .sort((a, b) => rank(a) - rank(b));
  return [...new Set([...claimed, ...grouped])];
}

const RANK: Record<ReturnType<typeof parseRole>["kind"], number> = {
  "platform-admin": 0,
  ops: 1,
  regulated: 2,
  viewer: 3,
  "service-agent": 4,
  "service-ai": 5,
  custom: 6,
};

function rank(role: string): number {
  return RANK[parseRole(role).kind];
}

/**
 * `pact_principal_type` when present; otherwise a client-credentials token
 * (RFC 9068: `sub` is the `client_id`) is a service, anything else human.
 */
function principalTypeOf(payload: jose.JWTPayload): PrincipalType {
  const claimed = payload["pact_principal_type"];
  if (typeof claimed === "string" && claimed !== "") return parsePrincipalType(claimed);
  const clientId = payload["client_id"] ?? payload["azp"];
  return typeof clientId === "string" && clientId === payload.sub ? "service" : "human";
}

function refusalFrom(err: unknown): TokenRefusedError {
  if (err instanceof jose.errors.JWTExpired) {
    return new TokenRefusedError("expired", "Token refused: expired (run `pact login` again)");
  }
  if (err instanceof jose.errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case "iss":
        return new TokenRefusedError("wrong_issuer", "Token refused: unexpected issuer");
      case "aud":
        return new TokenRefusedError("wrong_audience", "Token refused: unexpected audience");
      case "nbf":
        return new TokenRefusedError("not_yet_valid", "Token refused: not valid yet (nbf)");
      default:
        return new TokenRefusedError(
          "missing_claims",
          `Token refused: claim ${JSON.stringify(err.claim)} is missing or invalid`,
        );
    }
  }
  if (err instanceof jose.errors.JWSSignatureVerificationFailed) {
    return new TokenRefusedError("bad_signature", "Token refused: signature verification failed");
  }
  if (err instanceof jose.errors.JOSEAlgNotAllowed) {
    return new TokenRefusedError("bad_algorithm", "Token refused: algorithm not accepted");
  }
  return new TokenRefusedError("malformed", "Token refused: not a well-formed JWT");
}
