/**
 * Refuses keys that agent.toml does not define, naming the line they are
 * on, so that a typo such as `drift_sensitivty` fails the start instead of
 * being silently ignored while the default applies.
 */
import { PactError } from "../shared/errors/mod.ts";
import type { TomlTable } from "../shared/config/toml_file.ts";

/** Allowed keys per table path; a table path maps to its scalar/list keys. */
export type KeySchema = Readonly<Record<string, readonly string[]>>;

/**
 * Checks every key of `doc` against `schema`. Tables are entries of the
 * schema themselves (`agent.shell.auth`), keys are listed under their
 * table. The first unknown key or table is a one-line CONFIG error:
 * `agent.toml: line 7: unknown key "colour" in [agent.observer] (allowed: ...)`.
 */
export function checkKnownKeys(
  doc: TomlTable,
  schema: KeySchema,
  text: string,
  source: string,
): void {
  const lines = keyLines(text);
  const walk = (table: TomlTable, path: string): void => {
    const allowed = schema[path] ?? [];
    for (const [key, value] of Object.entries(table)) {
      const full = path === "" ? key : `${path}.${key}`;
      const isTable = typeof value === "object" && value !== null && !Array.isArray(value) &&
        !(value instanceof Date);
      if (isTable && schema[full] !== undefined) {
        walk(value as TomlTable, full);
        continue;
      }
      if (!isTable && allowed.includes(key)) continue;
      const line = lines.get(full);
      const where = line === undefined ? "" : ` line ${line}:`;
      const inTable = path === "" ? "at the top level" : `in [${path}]`;
      const subTables = Object.keys(schema)
        .filter((name) => name.startsWith(path === "" ? "" : `${path}.`) && name !== path)
        .map((name) => name.slice(path === "" ? 0 : path.length + 1))
        .filter((name) => !name.includes("."))
        .map((name) => `[${path === "" ? "" : `${path}.`}${name}]`);
      const choices = [...allowed, ...subTables];
      throw new PactError(
        "CONFIG",
        `${source}:${where} unknown ${isTable ? "table" : "key"} ${
          JSON.stringify(key)
        } ${inTable}` +
          ` (allowed: ${choices.length === 0 ? "none" : choices.join(", ")})`,
      );
    }
  };
  walk(doc, "");
}

/**
 * Maps each dotted key path (and each table header) of a TOML text to the
 * first line it appears on. A light scan, not a parser: the text has
 * already been parsed, so only headers and `key =` starts matter.
 */
export function keyLines(text: string): Map<string, number> {
  const lines = new Map<string, number>();
  let table = "";
  let inMultiline: string | undefined;
  text.split("\n").forEach((raw, index) => {
    const line = raw.trim();
    const number = index + 1;
    if (inMultiline !== undefined) {
      if (line.includes(inMultiline)) inMultiline = undefined;
      return;
    }
    const header = /^\[\[?\s*([^\]]+?)\s*\]\]?/.exec(line);
    if (header) {
      table = normalizeKey(header[1]!);
      if (!lines.has(table)) lines.set(table, number);
      return;
    }
    const assignment = /^((?:"[^"]*"|'[^']*'|[A-Za-z0-9_.\- ])+?)\s*=(.*)$/.exec(line);
    if (!assignment) return;
    const key = normalizeKey(assignment[1]!);
    const full = table === "" ? key : `${table}.${key}`;
    if (!lines.has(full)) lines.set(full, number);
    const rest = assignment[2]!.trim();
    for (const quote of ['"""', "'''"]) {
      if (rest.startsWith(quote) && rest.indexOf(quote, 3) === -1) inMultiline = quote;
    }
  });
  return lines;
}

function normalizeKey(text: string): string {
  return text.split(".").map((part) => part.trim().replace(/^["']|["']$/g, "")).join(".");
}
