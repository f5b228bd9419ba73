import { createHash } from "node:crypto";

/** Lowercase hex SHA-256 of `data`, computed synchronously. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}
