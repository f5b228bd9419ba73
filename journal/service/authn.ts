import type { Metadata } from "@grpc/grpc-js";
import type { Principal } from "../../shared/auth/principal.ts";
import { TokenRefusedError, type TokenVerifier } from "../../shared/auth/token_verifier.ts";

/** The bearer token of a call, or undefined. */
export function bearerToken(metadata: Metadata): string | undefined {
  const value = metadata.get("authorization")[0];
  if (typeof value !== "string") return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(value.trim());
  return match?.[1];
}

/** Authenticates a call from its metadata; counts each refusal by reason. */
export async function authenticate(
  verifier: TokenVerifier,
  metadata: Metadata,
  onRefused: (reason: string) => void,
): Promise<Principal> {
  try {
    return await verifier.verify(bearerToken(metadata));
  } catch (err) {
    if (err instanceof TokenRefusedError) onRefused(err.reason);
    throw err;
  }
}
