/**
 * The node's configuration state as `pact status` reports it, derived from
 * the evaluator's state (reference §3.4).
 */
import { ConfigState } from "../../shared/proto/gen/pact/config/config.ts";
import type { EvaluatorState } from "./evaluator_types.ts";

/** Emergency beats observe-only beats drifted beats committed. */
export function configStateOf(state: EvaluatorState): ConfigState {
  if (state.emergency !== undefined) return ConfigState.EMERGENCY;
  if (state.settings.mode === "observe") return ConfigState.OBSERVE_ONLY;
  if (state.drift.size > 0 || hasDrift(state)) {
    return ConfigState.DRIFTED;
  }
  return ConfigState.COMMITTED;
}

function hasDrift(state: EvaluatorState): boolean {
  return Object.values(state.vector).some((value) => value > 0);
}
