/**
 * PEM text for keys that WebCrypto exports as DER, in the forms Node's TLS
 * (and so grpc-js) reads: unencrypted PKCS#8 (`BEGIN PRIVATE KEY`).
 */

/** Wraps DER bytes as PEM with `label`, 64 base64 characters a line. */
export function derToPem(der: ArrayBuffer | Uint8Array, label: string): string {
  const bytes = der instanceof Uint8Array ? der : new Uint8Array(der);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  const lines = btoa(binary).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** The private key of `key` (extractable) as PKCS#8 PEM. */
export async function privateKeyPem(key: CryptoKey): Promise<string> {
  return derToPem(await crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

/** The DER body of the first PEM block labelled `label`, or undefined. */
export function pemToDer(pem: string, label: string): Uint8Array | undefined {
  const match = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(pem);
  if (!match) return undefined;
  return Uint8Array.from(atob(match[1]!.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
}
