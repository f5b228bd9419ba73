import type { ScopeRef } from "../../shared/domain/scope.ts";
import type { JournalState } from "../state/state.ts";

/** Sequence of the latest entry in `scope`, or undefined when it has none. */
export function scopeVersion(state: JournalState, scope: ScopeRef): number | undefined {
  switch (scope.kind) {
    case "global":
      return state.globalVersion;
    case "vcluster":
      return state.vclusters.get(scope.id)?.version;
    case "node":
      return state.nodes.get(scope.id)?.version;
  }
}
