/**
 * Finds the line each key of a TOML document is defined on, so that a
 * problem found in the parsed value can be reported as `spec.toml:12: ...`.
 * smol-toml parses; this only scans structure (headers, keys, inline tables,
 * arrays, strings) and assumes the document already parsed.
 */

/** A key path into a parsed document: table keys and array indices. */
export type KeyPath = readonly (string | number)[];

/** Line numbers (1-based) of the keys of one TOML document. */
export class TomlLocator {
  readonly #lines: ReadonlyMap<string, number>;

  private constructor(lines: ReadonlyMap<string, number>) {
    this.#lines = lines;
  }

  /** Scans `text`, which must be valid TOML. */
  static scan(text: string): TomlLocator {
    const lines = new Map<string, number>();
    try {
      new Scanner(text, lines).document();
    } catch {
      // A construct the scanner does not follow: keep the lines found so far.
    }
    return new TomlLocator(lines);
  }

  /** The line `path` is defined on, else that of its longest located prefix, else 1. */
  lineOf(path: KeyPath): number {
    for (let n = path.length; n > 0; n--) {
      const line = this.#lines.get(pathKey(path.slice(0, n)));
      if (line !== undefined) return line;
    }
    return 1;
  }
}

function pathKey(path: KeyPath): string {
  return JSON.stringify(path.map(String));
}

class Scanner {
  readonly #text: string;
  readonly #lines: Map<string, number>;
  /** Array-of-tables paths (as pathKey) and how many elements each has so far. */
  readonly #arrays = new Map<string, number>();
  #pos = 0;
  #line = 1;

  constructor(text: string, lines: Map<string, number>) {
    this.#text = text;
    this.#lines = lines;
  }

  document(): void {
    let table: (string | number)[] = [];
    while (this.#skip(true), this.#pos < this.#text.length) {
      if (this.#text.startsWith("[[", this.#pos)) {
        this.#pos += 2;
        const line = this.#line;
        const path = this.#resolve(this.#key());
        const index = this.#arrays.get(pathKey(path)) ?? 0;
        this.#arrays.set(pathKey(path), index + 1);
        table = [...path, index];
        this.#record(path, line);
        this.#record(table, line);
        this.#pos += 2;
      } else if (this.#peek() === "[") {
        this.#pos += 1;
        const line = this.#line;
        table = this.#resolve(this.#key());
        this.#record(table, line);
        this.#pos += 1;
      } else {
        this.#keyValue(table);
      }
      this.#skipToLineEnd();
    }
  }

  /** Inserts the current element index after each array-of-tables prefix of `parts`. */
  #resolve(parts: string[]): (string | number)[] {
    const out: (string | number)[] = [];
    for (const part of parts) {
      out.push(part);
      const count = this.#arrays.get(pathKey(out));
      if (count !== undefined) out.push(count - 1);
    }
    // The header itself names the array, not its last element.
    const last = out[out.length - 1];
    if (typeof last === "number" && this.#arrays.has(pathKey(out.slice(0, -1)))) out.pop();
    return out;
  }

  #keyValue(table: readonly (string | number)[]): void {
    const line = this.#line;
    const key = this.#key();
    // A dotted key defines each of its prefixes as a table on this line.
    for (let n = 1; n <= key.length; n++) this.#record([...table, ...key.slice(0, n)], line);
    const path = [...table, ...key];
    this.#skip(false);
    this.#pos += 1; // "="
    this.#skip(false);
    this.#value(path);
  }

  #value(path: readonly (string | number)[]): void {
    const c = this.#peek();
    if (c === "{") {
      this.#pos += 1;
      while (this.#skip(true), this.#peek() !== "}" && this.#pos < this.#text.length) {
        this.#keyValue(path);
        this.#skip(true);
        if (this.#peek() === ",") this.#pos += 1;
      }
      this.#pos += 1;
    } else if (c === "[") {
      this.#pos += 1;
      for (let index = 0;; index++) {
        this.#skip(true);
        if (this.#peek() === "]" || this.#pos >= this.#text.length) break;
        this.#record([...path, index], this.#line);
        this.#value([...path, index]);
        this.#skip(true);
        if (this.#peek() === ",") this.#pos += 1;
      }
      this.#pos += 1;
    } else if (c === '"' || c === "'") {
      this.#string();
    } else {
      while (this.#pos < this.#text.length && !",]}\n#".includes(this.#peek())) this.#pos += 1;
    }
  }

  /** A dotted key: bare or quoted parts. */
  #key(): string[] {
    const parts: string[] = [];
    while (true) {
      this.#skip(false);
      const c = this.#peek();
      if (c === '"' || c === "'") {
        parts.push(this.#string());
      } else {
        const start = this.#pos;
        while (/[A-Za-z0-9_-]/.test(this.#peek())) this.#pos += 1;
        if (this.#pos === start) throw new Error(`no key at line ${this.#line}`);
        parts.push(this.#text.slice(start, this.#pos));
      }
      this.#skip(false);
      if (this.#peek() !== ".") return parts;
      this.#pos += 1;
    }
  }

  /** A quoted string of any of TOML's four kinds; returns its (unescaped enough) text. */
  #string(): string {
    const quote = this.#peek();
    const multi = this.#text.startsWith(quote.repeat(3), this.#pos);
    const close = multi ? quote.repeat(3) : quote;
    this.#pos += close.length;
    let out = "";
    while (this.#pos < this.#text.length && !this.#text.startsWith(close, this.#pos)) {
      const c = this.#text[this.#pos]!;
      if (c === "\n") this.#line += 1;
      if (c === "\\" && quote === '"') {
        out += this.#text[this.#pos + 1] ?? "";
        this.#pos += 2;
        continue;
      }
      out += c;
      this.#pos += 1;
    }
    this.#pos += close.length;
    // A multi-line string may end with up to two extra quotes.
    while (multi && this.#peek() === quote) this.#pos += 1;
    return out;
  }

  /** Skips blanks and comments, and newlines too when `newlines`. */
  #skip(newlines: boolean): void {
    while (this.#pos < this.#text.length) {
      const c = this.#peek();
      if (c === " " || c === "\t" || c === "\r") this.#pos += 1;
      else if (c === "#") {
        while (this.#pos < this.#text.length && this.#peek() !== "\n") this.#pos += 1;
      } else if (c === "\n" && newlines) {
        this.#line += 1;
        this.#pos += 1;
      } else return;
    }
  }

  #skipToLineEnd(): void {
    this.#skip(false);
  }

  #peek(): string {
    return this.#text[this.#pos] ?? "";
  }

  #record(path: readonly (string | number)[], line: number): void {
    const key = pathKey(path);
    if (!this.#lines.has(key)) this.#lines.set(key, line);
  }
}
