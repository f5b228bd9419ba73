/** Kind of principal a token names (claim `pact_principal_type`). */
export type PrincipalType = "human" | "agent" | "service";

/** The authenticated caller of an RPC. */
export interface Principal {
  /** The token's `sub`: an email or a service-account name. */
  readonly principal: string;
  readonly principalType: PrincipalType;
  /**
   * The pact role: `pact_role`, else the most privileged `groups` entry
   * named like a pact role (e.g. `pact-ops-ml`).
   */
  readonly role: string;
  /** Every pact role of the token, `role` first; present only when there are several. */
  readonly roles?: readonly string[];
}

/** Maps the claim value to a principal type; anything unknown is human. */
export function parsePrincipalType(value: unknown): PrincipalType {
  const text = typeof value === "string" ? value.toLowerCase() : "";
  if (text === "agent") return "agent";
  if (text === "service") return "service";
  return "human";
}
