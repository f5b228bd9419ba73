import { EntryType } from "../proto/gen/pact/config/config.ts";
import { PactError } from "../errors/mod.ts";

/** Defined entry types (wire value > 0) mapped to their upper-case names. */
const NAMES: ReadonlyMap<EntryType, string> = new Map(
  Object.entries(EntryType)
    .filter((pair): pair is [string, EntryType] => typeof pair[1] === "number" && pair[1] > 0)
    .map(([name, value]) => [value, name]),
);

/** Upper-case display name of an entry type, e.g. `COMMIT`. */
export function entryTypeName(type: EntryType): string {
  return NAMES.get(type) ?? `UNKNOWN(${type})`;
}

/** Parses an entry type name in any case, with `-` or `_`: `commit`, `drift-detected`. */
export function parseEntryType(text: string): EntryType {
  const name = text.trim().toUpperCase().replaceAll("-", "_");
  for (const [value, known] of NAMES) {
    if (known === name) return value;
  }
  throw new PactError("INVALID_ARGUMENT", `Unknown entry type: ${JSON.stringify(text)}`);
}

/** Every defined entry type, in wire order. */
export function allEntryTypes(): EntryType[] {
  return [...NAMES.keys()];
}
