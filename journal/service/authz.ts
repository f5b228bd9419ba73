import type { Principal } from "../../shared/auth/principal.ts";
import { parseRole } from "../../shared/domain/roles.ts";
import type { ScopeRef } from "../../shared/domain/scope.ts";
import { PactError } from "../../shared/errors/mod.ts";
import { EntryType } from "../../shared/proto/gen/pact/config/config.ts";
import type { JournalState } from "../state/state.ts";

/**
 * The foundation's authorization: role-based only, decided in the journal.
 * Any pact role may read. Writes: platform admins anywhere; `pact-ops-{vc}`
 * inside its vCluster; `pact-service-agent` node-scoped records. Viewers,
 * regulated operators (until two-person approval exists), the AI service
 * role and unknown roles may not write. Only humans enter or leave
 * emergency mode.
 */
export function authorizeRead(principal: Principal): void {
  if (parseRole(principal.role).kind === "custom") {
    throw new PactError(
      "PERMISSION_DENIED",
      `Permission denied: unknown role ${JSON.stringify(principal.role)}`,
    );
  }
}

/** Throws PERMISSION_DENIED unless `principal` may append `type` in `scope`. */
export function authorizeWrite(
  principal: Principal,
  type: EntryType,
  scope: ScopeRef,
  state: JournalState,
): void {
  const role = parseRole(principal.role);
  const deny = (why: string) => {
    throw new PactError(
      "PERMISSION_DENIED",
      `Permission denied for ${principal.principal}: ${why}`,
    );
  };
  const emergency = type === EntryType.EMERGENCY_START || type === EntryType.EMERGENCY_END;
  if (emergency && principal.principalType !== "human") {
    deny("emergency mode needs a human principal");
  }
  switch (role.kind) {
    case "platform-admin":
      return;
    case "ops": {
      const vcluster = scope.kind === "vcluster"
        ? scope.id
        : scope.kind === "node"
        ? state.nodes.get(scope.id)?.vclusterId
        : undefined;
      if (vcluster !== role.vcluster) {
        deny(`role ${principal.role} may only write inside vCluster ${role.vcluster}`);
      }
      return;
    }
    case "service-agent":
      if (scope.kind !== "node" || emergency) deny("agents may only record node-scoped events");
      return;
    case "viewer":
      return deny(`role ${principal.role} is read-only`);
    case "regulated":
      return deny(
        `role ${principal.role} needs two-person approval, which this journal does not offer yet`,
      );
    case "service-ai":
      return deny("the AI service role is read-only");
    case "custom":
      return deny(`unknown role ${JSON.stringify(principal.role)}`);
  }
}
