/**
 * The OIDC roles pact understands. Roles arrive in the token's `pact_role`
 * claim; per-vCluster roles carry the vCluster id as a suffix.
 */
export type Role =
  | { readonly kind: "platform-admin" }
  | { readonly kind: "ops"; readonly vcluster: string }
  | { readonly kind: "viewer"; readonly vcluster: string }
  | { readonly kind: "regulated"; readonly vcluster: string }
  | { readonly kind: "service-agent" }
  | { readonly kind: "service-ai" }
  | { readonly kind: "custom"; readonly name: string };

export const PLATFORM_ADMIN = "pact-platform-admin";
export const SERVICE_AGENT = "pact-service-agent";
export const SERVICE_AI = "pact-service-ai";

const SCOPED = [
  ["pact-ops-", "ops"],
  ["pact-viewer-", "viewer"],
  ["pact-regulated-", "regulated"],
] as const;

/** Parses a role string; anything unrecognised is a `custom` role. */
export function parseRole(role: string): Role {
  if (role === PLATFORM_ADMIN) return { kind: "platform-admin" };
  if (role === SERVICE_AGENT) return { kind: "service-agent" };
  if (role === SERVICE_AI) return { kind: "service-ai" };
  for (const [prefix, kind] of SCOPED) {
    if (role.startsWith(prefix) && role.length > prefix.length) {
      return { kind, vcluster: role.slice(prefix.length) };
    }
  }
  return { kind: "custom", name: role };
}
