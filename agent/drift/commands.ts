/**
 * The evaluator's commands: commit, rollback and its outcome, extend, and
 * emergency start/end. Each is a pure step like the rest of the state
 * machine; a refused command returns the state unchanged with an error.
 */
import type { ErrorCode } from "../../shared/errors/mod.ts";
import { addTo, magnitude, ZERO_VECTOR } from "./drift_vector.ts";
import type {
  DriftItem,
  EvaluatorAction,
  EvaluatorState,
  RollbackTrigger,
  Step,
  WindowState,
} from "./evaluator_types.ts";

/** The current drift magnitude under the state's weights. */
export function currentMagnitude(state: EvaluatorState): number {
  return magnitude(state.vector, state.settings.weights);
}

/**
 * Accepts drift as declared: all of it, or only `keys` (`dimension:key`,
 * from a Commit entry's StateDelta). Committing named keys that are no
 * longer drifted does nothing, so a commit seen twice (from the append and
 * from the journal subscription) applies once. The window closes when no
 * drift is left.
 */
export function commit(
  state: EvaluatorState,
  author: string,
  message: string,
  keys?: readonly string[],
): Step {
  if (keys !== undefined) {
    const drift = new Map(state.drift);
    let vector = state.vector;
    const items: DriftItem[] = [];
    for (const key of new Set(keys)) {
      const item = drift.get(key);
      if (item === undefined) continue;
      drift.delete(key);
      items.push(item);
      vector = addTo(vector, item.dimension, -Math.min(1, vector[item.dimension]));
    }
    if (items.length === 0) return { state, actions: [] };
    if (drift.size === 0) vector = ZERO_VECTOR;
    const window: WindowState = drift.size === 0 ? { kind: "idle" } : state.window;
    return {
      state: { ...state, drift, vector, window },
      actions: [{ type: "journal_commit", items, author, message }],
    };
  }
  if (state.drift.size === 0 && currentMagnitude(state) === 0) {
    return refuse(state, "VALIDATION", "Cannot commit: there is no drift on this node");
  }
  const items = [...state.drift.values()];
  return {
    state: { ...state, drift: new Map(), vector: ZERO_VECTOR, window: { kind: "idle" } },
    actions: [{ type: "journal_commit", items, author, message }],
  };
}

export function requestRollback(state: EvaluatorState, trigger: RollbackTrigger): Step {
  if (state.drift.size === 0) {
    return refuse(state, "VALIDATION", "Cannot roll back: there is no drift on this node");
  }
  if (state.rollbackInFlight) {
    return refuse(state, "CONFLICT", "Cannot roll back: a rollback is already running");
  }
  return {
    state: { ...state, rollbackInFlight: true },
    actions: [{ type: "rollback", trigger, items: [...state.drift.values()] }],
  };
}

export function rollbackFinished(
  state: EvaluatorState,
  trigger: RollbackTrigger,
  items: readonly DriftItem[],
  consumers: readonly string[],
  nowMs: number,
): Step {
  const journal: EvaluatorAction = {
    type: "journal_rollback",
    trigger,
    items,
    ok: consumers.length === 0,
    consumers,
  };
  if (consumers.length > 0) {
    const window = state.window;
    const blocked: WindowState = {
      kind: "expired",
      openedAtMs: window.kind === "idle" ? nowMs : window.openedAtMs,
      expiredAtMs: window.kind === "expired" ? window.expiredAtMs : nowMs,
      blockedBy: consumers,
    };
    const message = `Rollback refused: ${consumers.length} active consumer${
      consumers.length === 1 ? "" : "s"
    } (${consumers.join(", ")}); kill them, commit, or enter emergency mode`;
    return {
      state: {
        ...state,
        rollbackInFlight: false,
        window: state.emergency === undefined ? blocked : state.window,
      },
      actions: [journal, { type: "alert", kind: "rollback_blocked", detail: message }],
      error: { code: "ROLLBACK_ACTIVE_CONSUMERS", message },
    };
  }
  const drift = new Map(state.drift);
  let vector = state.vector;
  for (const item of items) {
    if (drift.delete(`${item.dimension}:${item.key}`)) {
      vector = addTo(vector, item.dimension, -Math.min(1, vector[item.dimension]));
    }
  }
  if (drift.size === 0) vector = ZERO_VECTOR;
  const window: WindowState = drift.size === 0 ? { kind: "idle" } : state.window;
  return {
    state: { ...state, drift, vector, window, rollbackInFlight: false },
    actions: [journal],
  };
}

export function extend(state: EvaluatorState, minutes: number, nowMs: number): Step {
  if (!Number.isInteger(minutes) || minutes <= 0) {
    return refuse(
      state,
      "INVALID_ARGUMENT",
      `Cannot extend the commit window: minutes must be a whole number greater than 0, got ${minutes}`,
    );
  }
  if (state.emergency !== undefined) {
    return refuse(
      state,
      "VALIDATION",
      "Cannot extend the commit window: emergency mode is active (end it with pact emergency end)",
    );
  }
  const window = state.window;
  const addMs = minutes * 60_000;
  if (window.kind === "idle") {
    return refuse(state, "VALIDATION", "Cannot extend the commit window: no window is open");
  }
  const deadlineMs = window.kind === "open" ? window.deadlineMs + addMs : nowMs + addMs;
  const extendedMs = window.kind === "open" ? window.extendedMs + addMs : addMs;
  return {
    state: {
      ...state,
      window: { kind: "open", openedAtMs: window.openedAtMs, deadlineMs, extendedMs },
    },
    actions: [{
      type: "window_extended",
      deadlineMs,
      secondsLeft: Math.round((deadlineMs - nowMs) / 1000),
    }],
  };
}

export function emergencyStart(
  state: EvaluatorState,
  admin: string,
  reason: string,
  nowMs: number,
): Step {
  if (!state.settings.emergencyAllowed) {
    return refuse(
      state,
      "POLICY_DENIED",
      "Cannot enter emergency mode: the vCluster policy sets emergency_allowed = false",
    );
  }
  if (reason.trim() === "") {
    return refuse(state, "INVALID_ARGUMENT", "Cannot enter emergency mode: a reason is required");
  }
  if (state.emergency !== undefined) {
    return refuse(
      state,
      "ALREADY_EXISTS",
      `Cannot enter emergency mode: emergency mode already active (started by ${state.emergency.admin})`,
    );
  }
  const ttlSeconds = state.settings.emergencyWindowSeconds;
  return {
    state: {
      ...state,
      // The emergency window replaces the commit window; drift stays recorded.
      window: { kind: "idle" },
      emergency: {
        startedAtMs: nowMs,
        expiresAtMs: nowMs + ttlSeconds * 1000,
        reason,
        admin,
        stale: false,
      },
    },
    actions: [{ type: "journal_emergency_start", admin, reason, ttlSeconds }],
  };
}

export function emergencyEnd(
  state: EvaluatorState,
  admin: string,
  force: boolean,
  resolution: "commit" | "rollback",
): Step {
  const session = state.emergency;
  if (session === undefined) {
    return refuse(state, "VALIDATION", "Cannot end emergency mode: it is not active");
  }
  if (admin !== session.admin && !force) {
    return refuse(
      state,
      "PERMISSION_DENIED",
      `Cannot end emergency mode: only ${session.admin} may end it without --force`,
    );
  }
  const ended: EvaluatorState = { ...state, emergency: undefined };
  const end: EvaluatorAction = {
    type: "journal_emergency_end",
    admin,
    startedBy: session.admin,
    forced: admin !== session.admin,
  };
  if (state.drift.size === 0) return { state: ended, actions: [end] };
  const resolved = resolution === "commit"
    ? commit(ended, admin, `emergency end: ${session.reason}`)
    : requestRollback(ended, "emergency_end");
  return { state: resolved.state, actions: [end, ...resolved.actions] };
}

export function refuse(state: EvaluatorState, code: ErrorCode, message: string): Step {
  return { state, actions: [], error: { code, message } };
}

/**
 * Commands the shell and exec may run. Emergency mode never adds any (A10):
 * the whitelist is the policy's, whatever the emergency state.
 */
export function effectiveWhitelist(
  policyWhitelist: readonly string[],
  _state: EvaluatorState,
): readonly string[] {
  return policyWhitelist;
}
