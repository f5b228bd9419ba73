/**
 * Drift exclusions (reference §2.4, D1). A pattern ending in `/**` covers
 * the directory and everything below it at any depth; one ending in `/*`
 * covers exactly one more path segment; any other pattern is an exact
 * path. No other wildcards exist, so matching is prefix arithmetic.
 */
import { PactError } from "../../shared/errors/mod.ts";

/** A checked blacklist pattern. */
export type BlacklistRule =
  | { readonly kind: "tree"; readonly prefix: string; readonly pattern: string }
  | { readonly kind: "children"; readonly prefix: string; readonly pattern: string }
  | { readonly kind: "exact"; readonly path: string; readonly pattern: string };

/** Parses one pattern; a relative one or a wildcard in the middle is an INVALID_ARGUMENT error. */
export function parseBlacklistPattern(pattern: string): BlacklistRule {
  if (!pattern.startsWith("/")) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Invalid blacklist pattern ${JSON.stringify(pattern)}: it must be an absolute path`,
    );
  }
  const [kind, base] = pattern.endsWith("/**")
    ? ["tree", pattern.slice(0, -3)] as const
    : pattern.endsWith("/*")
    ? ["children", pattern.slice(0, -2)] as const
    : ["exact", pattern] as const;
  if (base.includes("*")) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Invalid blacklist pattern ${
        JSON.stringify(pattern)
      }: '*' may only appear as a trailing /* or /**`,
    );
  }
  const prefix = normalize(base);
  return kind === "exact" ? { kind, path: prefix, pattern } : { kind, prefix, pattern };
}

/** A compiled list of patterns. */
export class Blacklist {
  readonly rules: readonly BlacklistRule[];

  constructor(patterns: readonly string[]) {
    this.rules = patterns.map(parseBlacklistPattern);
  }

  /** The patterns as given. */
  get patterns(): string[] {
    return this.rules.map((rule) => rule.pattern);
  }

  /** The first rule covering `path`, or undefined. */
  match(path: string): BlacklistRule | undefined {
    const target = normalize(path);
    return this.rules.find((rule) => covers(rule, target));
  }

  /** True when `path` is excluded from drift detection. */
  excludes(path: string): boolean {
    return this.match(path) !== undefined;
  }
}

function covers(rule: BlacklistRule, path: string): boolean {
  switch (rule.kind) {
    case "exact":
      return path === rule.path;
    case "tree":
      return rule.prefix === "" || path === rule.prefix || path.startsWith(`${rule.prefix}/`);
    case "children": {
      if (!path.startsWith(`${rule.prefix}/`)) return false;
      const rest = path.slice(rule.prefix.length + 1);
      return rest !== "" && !rest.includes("/");
    }
  }
}

/** Collapses repeated slashes and drops a trailing one (`/etc//x/` -> `/etc/x`); `/` stays `` for prefixes. */
function normalize(path: string): string {
  const collapsed = path.replace(/\/+/g, "/");
  return collapsed.endsWith("/") ? collapsed.slice(0, -1) : collapsed;
}
