import * as jose from "jose";
import type { Clock } from "../clock/clock.ts";
import { PactError } from "../errors/mod.ts";
import { parsePrincipalType, type Principal } from "./principal.ts";

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
  | "missing_claims";

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
  /** Dev/test HS256 shared secret. */
  readonly hmacSecret?: string | undefined;
  /** JWKS URL for RS256/ES256 keys. */
  readonly jwksUrl?: string | undefined;
  /** Largest accepted token in bytes. Default 8192. */
  readonly maxTokenBytes?: number;
  /** Accepted clock skew in seconds for `exp`/`nbf`. Default 60. */
  readonly clockToleranceSeconds?: number;
  readonly clock?: Clock;
}

const DEFAULT_MAX_TOKEN_BYTES = 8192;
const DEFAULT_CLOCK_TOLERANCE_SECONDS = 60;

/**
 * Validates bearer JWTs: signature (HS256 secret or JWKS), `alg` pinned to
 * the key type, `iss`, `aud`, `exp`, `nbf`, and extracts the principal.
 */
export class TokenVerifier {
  readonly #options: TokenVerifierOptions;
  readonly #hmacKey: Uint8Array | undefined;
  readonly #jwks: ReturnType<typeof jose.createRemoteJWKSet> | undefined;

  constructor(options: TokenVerifierOptions) {
    this.#options = options;
    this.#hmacKey = options.hmacSecret ? new TextEncoder().encode(options.hmacSecret) : undefined;
    this.#jwks = options.jwksUrl ? jose.createRemoteJWKSet(new URL(options.jwksUrl)) : undefined;
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
    const payload = await this.#verifySignature(token);
    return principalOf(payload);
  }

  async #verifySignature(token: string): Promise<jose.JWTPayload> {
    const options = this.#options;
    const verifyOptions: jose.JWTVerifyOptions = {
      issuer: options.issuer,
      audience: options.audience,
      clockTolerance: options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ["sub", "exp"],
      ...(options.clock ? { currentDate: new Date(options.clock.now()) } : {}),
    };
    const header = decodeHeader(token);
    try {
      if (header.alg === "HS256" && this.#hmacKey) {
        return (await jose.jwtVerify(token, this.#hmacKey, {
          ...verifyOptions,
          algorithms: ["HS256"],
        })).payload;
      }
      if ((header.alg === "RS256" || header.alg === "ES256") && this.#jwks) {
        return (await jose.jwtVerify(token, this.#jwks, {
          ...verifyOptions,
          algorithms: ["RS256", "ES256"],
        }))
          .payload;
      }
    } catch (err) {
      throw refusalFrom(err);
    }
    if (!this.configured) {
      throw new TokenRefusedError(
        "not_configured",
        "Token refused: no token validation is configured (set PACT_OIDC_HMAC_SECRET or PACT_OIDC_JWKS_URL)",
      );
    }
    throw new TokenRefusedError(
      "bad_algorithm",
      `Token refused: algorithm ${JSON.stringify(header.alg)} is not accepted`,
    );
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
  const role = roleOf(payload);
  if (!sub || !role) {
    throw new TokenRefusedError(
      "missing_claims",
      "Token refused: claims `sub` and `pact_role` are required",
    );
  }
  return {
    principal: sub,
    principalType: parsePrincipalType(payload["pact_principal_type"]),
    role,
  };
}

function roleOf(payload: jose.JWTPayload): string | undefined {
  const role = payload["pact_role"];
  if (typeof role === "string" && role !== "") return role;
  const groups = payload["groups"];
  if (Array.isArray(groups)) {
    return groups.find((g): g is string => typeof g === "string" && g.startsWith("pact-"));
  }
  return undefined;
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
          `Token refused: claim ${JSON.stringify(err.claim)} is invalid`,
        );
    }
  }
  if (
    err instanceof jose.errors.JWSSignatureVerificationFailed ||
    err instanceof jose.errors.JWKSNoMatchingKey
  ) {
    return new TokenRefusedError("bad_signature", "Token refused: signature verification failed");
  }
  if (err instanceof jose.errors.JOSEAlgNotAllowed) {
    return new TokenRefusedError("bad_algorithm", "Token refused: algorithm not accepted");
  }
  return new TokenRefusedError("malformed", "Token refused: not a well-formed JWT");
}
