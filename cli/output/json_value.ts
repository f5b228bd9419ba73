/**
 * Converts a generated protobuf message to plain JSON-friendly data:
 * snake_case keys, ISO timestamps, base64 bytes, oneofs as `{ case: value }`,
 * and undefined fields dropped.
 */
export function toJsonValue(value: unknown): unknown {
  if (value === undefined || value === null) return undefined;
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return base64(value);
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (typeof value !== "object") return value;
  const record = value as Record<string, unknown>;
  if (typeof record["$case"] === "string" && "value" in record) {
    return { [snake(record["$case"])]: toJsonValue(record["value"]) };
  }
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(record)) {
    const converted = toJsonValue(field);
    if (converted !== undefined) out[snake(key)] = converted;
  }
  return out;
}

/** `lastCommitSequence` → `last_commit_sequence`. */
export function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
