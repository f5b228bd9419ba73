import * as jose from "jose";
import type { PrincipalType } from "./principal.ts";

/** What a development token asserts. */
export interface DevTokenClaims {
  readonly secret: string;
  readonly issuer: string;
  readonly audience: string;
  readonly principal: string;
  readonly role: string;
  readonly principalType?: PrincipalType;
  /** Lifetime in seconds. Default 3600. */
  readonly ttlSeconds?: number;
  /** Issue time in ms since the epoch. Default now. */
  readonly nowMs?: number;
}

/**
 * Signs an HS256 token with the journal's development secret. For dev and
 * test sites only: production tokens come from the OIDC provider.
 */
export async function mintDevToken(claims: DevTokenClaims): Promise<string> {
  const issuedAt = Math.floor((claims.nowMs ?? Date.now()) / 1000);
  return await new jose.SignJWT({
    pact_role: claims.role,
    pact_principal_type: claims.principalType ?? "human",
  })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(claims.principal)
    .setIssuer(claims.issuer)
    .setAudience(claims.audience)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + (claims.ttlSeconds ?? 3600))
    .sign(new TextEncoder().encode(claims.secret));
}
