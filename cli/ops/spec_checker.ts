/**
 * Typed reads from a parsed TOML document that collect every problem with
 * its line instead of stopping at the first, for `pact apply`.
 */
import { type KeyPath, TomlLocator } from "./toml_locator.ts";

/** One problem of a spec file. */
export interface SpecProblem {
  readonly line: number;
  readonly message: string;
}

/** A TOML table as parsed. */
export type Table = Record<string, unknown>;

/** Reads values at key paths, recording a line-numbered problem for each misfit. */
export class SpecChecker {
  readonly problems: SpecProblem[] = [];
  readonly #locator: TomlLocator;

  constructor(text: string) {
    this.#locator = TomlLocator.scan(text);
  }

  /** Records a problem at `path`. */
  problem(path: KeyPath, message: string): void {
    this.problems.push({ line: this.#locator.lineOf(path), message });
  }

  /** Reports keys of `table` not in `allowed`. */
  keys(path: KeyPath, table: Table, allowed: readonly string[]): void {
    for (const key of Object.keys(table)) {
      if (!allowed.includes(key)) {
        this.problem(
          [...path, key],
          `unknown key ${JSON.stringify(key)} in ${describe(path)} (allowed: ${
            allowed.join(", ")
          })`,
        );
      }
    }
  }

  table(path: KeyPath, value: unknown): Table | undefined {
    if (isTable(value)) return value;
    this.problem(path, `${describe(path)} must be a table, got ${typeName(value)}`);
    return undefined;
  }

  string(path: KeyPath, value: unknown): string | undefined {
    if (typeof value === "string") return value;
    this.problem(path, `${describe(path)} must be a string, got ${typeName(value)}`);
    return undefined;
  }

  /** A string from `choices`. */
  choice<T extends string>(path: KeyPath, value: unknown, choices: readonly T[]): T | undefined {
    const text = this.string(path, value);
    if (text === undefined) return undefined;
    if ((choices as readonly string[]).includes(text)) return text as T;
    this.problem(
      path,
      `${describe(path)} must be one of ${choices.join(", ")}, got ${JSON.stringify(text)}`,
    );
    return undefined;
  }

  boolean(path: KeyPath, value: unknown): boolean | undefined {
    if (typeof value === "boolean") return value;
    this.problem(path, `${describe(path)} must be true or false, got ${typeName(value)}`);
    return undefined;
  }

  /** A whole number in [min, max]. */
  integer(path: KeyPath, value: unknown, min: number, max: number): number | undefined {
    const n = typeof value === "bigint" ? Number(value) : value;
    if (typeof n === "number" && Number.isInteger(n) && n >= min && n <= max) return n;
    this.problem(
      path,
      `${describe(path)} must be a whole number from ${min} to ${max}, got ${show(value)}`,
    );
    return undefined;
  }

  /** A finite number >= 0. */
  number(path: KeyPath, value: unknown): number | undefined {
    const n = typeof value === "bigint" ? Number(value) : value;
    if (typeof n === "number" && Number.isFinite(n) && n >= 0) return n;
    this.problem(path, `${describe(path)} must be a number >= 0, got ${show(value)}`);
    return undefined;
  }

  stringArray(path: KeyPath, value: unknown): string[] | undefined {
    if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value;
    this.problem(path, `${describe(path)} must be a list of strings, got ${typeName(value)}`);
    return undefined;
  }

  /** A table whose values are all strings (numbers and booleans are written as text). */
  stringMap(path: KeyPath, value: unknown, hint = ""): Record<string, string> | undefined {
    const table = this.table(path, value);
    if (!table) return undefined;
    const out: Record<string, string> = {};
    for (const [key, v] of Object.entries(table)) {
      if (typeof v === "string") out[key] = v;
      else if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") {
        out[key] = String(v);
      } else {
        this.problem(
          [...path, key],
          `${describe([...path, key])} must be a string, got ${typeName(v)}${hint}`,
        );
      }
    }
    return out;
  }
}

/** True for a TOML table (not an array, date or scalar). */
export function isTable(value: unknown): value is Table {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date);
}

/** `[vcluster.ml.mounts."/scratch"]`-style name of a path. */
export function describe(path: KeyPath): string {
  if (path.length === 0) return "the document";
  const parts = path.map((p) =>
    typeof p === "number" ? `[${p}]` : /^[A-Za-z0-9_-]+$/.test(p) ? p : JSON.stringify(p)
  );
  return parts.reduce((text, part) => part.startsWith("[") ? text + part : `${text}.${part}`);
}

function typeName(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (value instanceof Date) return "a date";
  if (isTable(value)) return "a table";
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  return `${typeof value === "bigint" ? "number" : typeof value} ${String(value)}`;
}

function show(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : typeName(value);
}
