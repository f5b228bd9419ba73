/**
 * `@peculiar/x509` on WebCrypto, ready to use: its dependency injection
 * (tsyringe) needs the Reflect metadata polyfill loaded first, so every
 * pact module imports the library through this file.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

export { x509 };

/** The one key type pact issues and accepts: ECDSA on P-256 with SHA-256. */
export const EC_P256: EcKeyGenParams & EcdsaParams = {
  name: "ECDSA",
  namedCurve: "P-256",
  hash: "SHA-256",
};

/** A new extractable P-256 key pair. */
export async function generateP256KeyPair(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(EC_P256, true, ["sign", "verify"]) as CryptoKeyPair;
}

/** Lowercase hex SHA-256 of DER bytes (certificate fingerprints). */
export async function sha256HexOf(der: ArrayBuffer | Uint8Array): Promise<string> {
  const bytes = der instanceof Uint8Array ? der : new Uint8Array(der);
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
