import { parse, TomlError } from "smol-toml";
import { PactError } from "../errors/mod.ts";

/** A parsed TOML table. */
export type TomlTable = Record<string, unknown>;

/**
 * Reads and parses a TOML file. A missing file gives `undefined` when
 * `optional`, else a CONFIG error; malformed TOML always gives a one-line
 * CONFIG error naming the file, line and column.
 */
export async function readTomlFile(
  path: string,
  optional: boolean,
): Promise<TomlTable | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (optional && err instanceof Deno.errors.NotFound) return undefined;
    const reason = err instanceof Deno.errors.NotFound ? "file not found" : (err as Error).message;
    throw new PactError("CONFIG", `Cannot read ${path}: ${reason}`);
  }
  return parseToml(text, path);
}

/** Parses TOML text; `source` names it in errors. */
export function parseToml(text: string, source: string): TomlTable {
  try {
    return parse(text) as TomlTable;
  } catch (err) {
    if (err instanceof TomlError) {
      const first = err.message.split("\n")[0]!.replace(/^Invalid TOML document: /, "");
      throw new PactError(
        "CONFIG",
        `Cannot parse ${source}: line ${err.line}, column ${err.column}: ${first}`,
      );
    }
    throw new PactError("CONFIG", `Cannot parse ${source}: ${(err as Error).message}`);
  }
}

/**
 * Typed, path-aware access to a TOML document, so that a wrong type is
 * reported as `journal.toml: [journal.raft] snapshot_interval must be an integer`.
 */
export class TomlReader {
  readonly #root: TomlTable;
  readonly #source: string;

  constructor(root: TomlTable | undefined, source: string) {
    this.#root = root ?? {};
    this.#source = source;
  }

  /** The table at a dotted path, or undefined. */
  table(path: string): TomlTable | undefined {
    let node: unknown = this.#root;
    for (const part of path.split(".")) {
      if (node === undefined) return undefined;
      if (typeof node !== "object" || node === null || Array.isArray(node)) {
        throw this.#typeError(path, "", "a table");
      }
      node = (node as TomlTable)[part];
    }
    if (node !== undefined && (typeof node !== "object" || node === null || Array.isArray(node))) {
      throw this.#typeError(path, "", "a table");
    }
    return node as TomlTable | undefined;
  }

  string(table: string, key: string): string | undefined {
    return this.#get(table, key, "a string", (v): v is string => typeof v === "string");
  }

  integer(table: string, key: string): number | undefined {
    return this.#get(
      table,
      key,
      "an integer",
      (v): v is number => typeof v === "number" && Number.isInteger(v),
    );
  }

  number(table: string, key: string): number | undefined {
    return this.#get(table, key, "a number", (v): v is number => typeof v === "number");
  }

  boolean(table: string, key: string): boolean | undefined {
    return this.#get(table, key, "true or false", (v): v is boolean => typeof v === "boolean");
  }

  strings(table: string, key: string): string[] | undefined {
    return this.#get(
      table,
      key,
      "a list of strings",
      (v): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string"),
    );
  }

  #get<T>(table: string, key: string, what: string, is: (v: unknown) => v is T): T | undefined {
    const value = (table === "" ? this.#root : this.table(table))?.[key];
    if (value === undefined) return undefined;
    if (!is(value)) throw this.#typeError(table, key, what);
    return value;
  }

  #typeError(table: string, key: string, what: string): PactError {
    const where = table === "" ? key : key === "" ? `[${table}]` : `[${table}] ${key}`;
    return new PactError("CONFIG", `${this.#source}: ${where} must be ${what}`);
  }
}
