import type { Scope } from "../proto/gen/pact/config/config.ts";
import { PactError } from "../errors/mod.ts";

/** A parsed scope: the whole site, one vCluster or one node. */
export type ScopeRef =
  | { readonly kind: "global" }
  | { readonly kind: "vcluster"; readonly id: string }
  | { readonly kind: "node"; readonly id: string };

/** The global scope value. */
export const GLOBAL: ScopeRef = { kind: "global" };

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** True when `id` is a valid node or vCluster id (1-128 of `[A-Za-z0-9._-]`). */
export function isValidId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/** Throws INVALID_ARGUMENT unless `id` is a valid node or vCluster id. */
export function checkId(what: "node" | "vcluster", id: string): string {
  if (!isValidId(id)) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Invalid ${what} id: ${JSON.stringify(id)} (use 1-128 letters, digits, '.', '_' or '-')`,
    );
  }
  return id;
}

/** Parses `global`, `node:<id>`, `vc:<id>` or `vcluster:<id>`. */
export function parseScope(text: string): ScopeRef {
  if (text === "global") return GLOBAL;
  const colon = text.indexOf(":");
  const kind = colon < 0 ? "" : text.slice(0, colon);
  const id = text.slice(colon + 1);
  if (kind === "node") return { kind: "node", id: checkId("node", id) };
  if (kind === "vc" || kind === "vcluster") {
    return { kind: "vcluster", id: checkId("vcluster", id) };
  }
  throw new PactError(
    "INVALID_ARGUMENT",
    `Invalid scope: ${JSON.stringify(text)} (use global, node:<id> or vc:<name>)`,
  );
}

/** The canonical text form: `global`, `node:<id>` or `vc:<id>`. */
export function formatScope(scope: ScopeRef): string {
  switch (scope.kind) {
    case "global":
      return "global";
    case "vcluster":
      return `vc:${scope.id}`;
    case "node":
      return `node:${scope.id}`;
  }
}

/** Converts to the wire form. */
export function toProtoScope(scope: ScopeRef): Scope {
  switch (scope.kind) {
    case "global":
      return { kind: { $case: "global", value: true } };
    case "vcluster":
      return { kind: { $case: "vclusterId", value: scope.id } };
    case "node":
      return { kind: { $case: "nodeId", value: scope.id } };
  }
}

/** Converts from the wire form; undefined when the scope is missing or empty. */
export function fromProtoScope(scope: Scope | undefined): ScopeRef | undefined {
  const kind = scope?.kind;
  if (kind === undefined) return undefined;
  switch (kind.$case) {
    case "global":
      return kind.value ? GLOBAL : undefined;
    case "vclusterId":
      return kind.value === "" ? undefined : { kind: "vcluster", id: kind.value };
    case "nodeId":
      return kind.value === "" ? undefined : { kind: "node", id: kind.value };
  }
}
