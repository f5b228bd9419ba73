import type { Principal } from "../../shared/auth/principal.ts";
import { type Identity, PrincipalType } from "../../shared/proto/gen/pact/config/config.ts";

/** The journal's record of who acted, from a validated token. */
export function identityOf(principal: Principal): Identity {
  return {
    principal: principal.principal,
    principalType: principalTypeOf(principal),
    role: principal.role,
  };
}

function principalTypeOf(principal: Principal): PrincipalType {
  switch (principal.principalType) {
    case "agent":
      return PrincipalType.AGENT;
    case "service":
      return PrincipalType.SERVICE;
    case "human":
      return PrincipalType.HUMAN;
  }
}
