/**
 * The drift evaluator: a pure state machine `step(state, event, nowMs) ->
 * {state, actions, error}` over observed changes, commit windows, rollback
 * and emergency mode (reference §2.4–2.6). It reads no clock and does no
 * I/O: the driver feeds it events and carries out its actions (journal
 * writes, reverting keys, alerts), then feeds back the outcome.
 *
 *   Idle --drift (enforce)--> Open(openedAt, deadline) --tick >= deadline--> Expired
 *    ^  <----commit / rollback ok----'  ^  '--more drift: deadline recomputed, openedAt kept
 *    '--------- rollback ok ------------+-- Expired --rollback refused (consumers)--> Expired(blocked)
 *   Emergency: no commit window, no auto-rollback; stale past its window -> alert + hold.
 */
import { hasPathKey, type ObserverEvent } from "../observe/observer_event.ts";
import type { EnforcementMode } from "../config.ts";
import { Blacklist } from "./blacklist.ts";
import { type WindowParameters, windowSeconds } from "./commit_window.ts";
import {
  addTo,
  DEFAULT_WEIGHTS,
  type Dimension,
  dimensionOf,
  type DriftWeights,
  ZERO_VECTOR,
} from "./drift_vector.ts";
import type {
  DriftItem,
  EvaluatorAction,
  EvaluatorEvent,
  EvaluatorSettings,
  EvaluatorState,
  Step,
} from "./evaluator_types.ts";

import {
  commit,
  currentMagnitude,
  emergencyEnd,
  emergencyStart,
  extend,
  requestRollback,
  rollbackFinished,
} from "./commands.ts";
import { graceExpiry, journalChanged, pausedIds, settleConflicts } from "./merge.ts";

export type * from "./evaluator_types.ts";
export { currentMagnitude, effectiveWhitelist } from "./commands.ts";

/** Settings from agent.toml-like values; weights and categories default to the reference. */
export function evaluatorSettings(values: {
  mode: EnforcementMode;
  window: WindowParameters;
  emergencyWindowSeconds: number;
  blacklist: readonly string[];
  weights?: DriftWeights;
  autoConverge?: Iterable<Dimension>;
  requireAck?: Iterable<Dimension>;
  emergencyAllowed?: boolean;
  maxDriftItems?: number;
}): EvaluatorSettings {
  return {
    mode: values.mode,
    window: values.window,
    emergencyWindowSeconds: values.emergencyWindowSeconds,
    blacklist: new Blacklist(values.blacklist),
    weights: values.weights ?? DEFAULT_WEIGHTS,
    autoConverge: new Set(values.autoConverge ?? []),
    requireAck: new Set(values.requireAck ?? []),
    emergencyAllowed: values.emergencyAllowed ?? true,
    maxDriftItems: values.maxDriftItems ?? 10_000,
  };
}

/** A node with no drift, no window and no emergency. */
export function initialState(settings: EvaluatorSettings): EvaluatorState {
  return {
    settings,
    drift: new Map(),
    vector: ZERO_VECTOR,
    window: { kind: "idle" },
    emergency: undefined,
    rollbackInFlight: false,
  };
}

/** Advances the state machine by one event at `nowMs`. */
export function step(state: EvaluatorState, event: EvaluatorEvent, nowMs: number): Step {
  return settleConflicts(state, event, dispatch(state, event, nowMs));
}

function dispatch(state: EvaluatorState, event: EvaluatorEvent, nowMs: number): Step {
  switch (event.type) {
    case "observed":
      return observed(state, event.event, nowMs);
    case "tick":
      return tick(state, nowMs);
    case "commit":
      return commit(state, event.author, event.message, event.keys);
    case "rollback":
      return requestRollback(state, "admin");
    case "rollback_finished":
      return rollbackFinished(state, event.trigger, event.items, event.consumers, nowMs);
    case "extend":
      return extend(state, event.minutes, nowMs);
    case "state_changing_exec":
      return stateChangingExec(state, nowMs);
    case "emergency_start":
      return emergencyStart(state, event.admin, event.reason, nowMs);
    case "emergency_end":
      return emergencyEnd(state, event.admin, event.force, event.resolution);
    case "settings":
      return applySettings(state, event.settings, nowMs);
    case "journal_changed":
      return journalChanged(state, event.sequence, event.changes, nowMs);
  }
}

function observed(state: EvaluatorState, event: ObserverEvent, nowMs: number): Step {
  const { settings } = state;
  if (hasPathKey(event.category) && settings.blacklist.excludes(event.key)) {
    return { state, actions: [] };
  }
  const dimension = dimensionOf(event.category);
  const id = `${dimension}:${event.key}`;
  const known = state.drift.get(id);
  if (known !== undefined) {
    // The same key changing again is still one drifted key: remember the latest detail only.
    const drift = new Map(state.drift);
    drift.set(id, { ...known, detail: event.detail, lastSeenMs: event.atMs, source: event.source });
    return { state: { ...state, drift }, actions: [] };
  }
  const item: DriftItem = {
    dimension,
    key: event.key,
    detail: event.detail,
    source: event.source,
    firstSeenMs: event.atMs,
    lastSeenMs: event.atMs,
    actor: event.actor,
  };
  const converge = settings.mode === "enforce" && state.emergency === undefined &&
    settings.autoConverge.has(dimension);
  if (converge) {
    const actions: EvaluatorAction[] = [
      {
        type: "journal_drift",
        item,
        vector: state.vector,
        magnitude: currentMagnitude(state),
      },
      { type: "converge", item },
    ];
    return { state, actions };
  }
  const drift = new Map(state.drift);
  if (drift.size < settings.maxDriftItems) drift.set(id, item);
  const next: EvaluatorState = { ...state, drift, vector: addTo(state.vector, dimension) };
  const size = currentMagnitude(next);
  const actions: EvaluatorAction[] = [{
    type: "journal_drift",
    item,
    vector: next.vector,
    magnitude: size,
  }];
  if (settings.mode === "warn") actions.push({ type: "warn", item, magnitude: size });
  if (settings.mode !== "enforce" || next.emergency !== undefined) return { state: next, actions };
  return openOrRecompute(next, nowMs, actions);
}

/** Opens a window, or recomputes an open one's deadline keeping its opened_at (A1). */
function openOrRecompute(
  state: EvaluatorState,
  nowMs: number,
  actions: EvaluatorAction[],
): Step {
  const size = currentMagnitude(state);
  const seconds = windowSeconds(size, state.settings.window);
  const { window } = state;
  if (seconds === undefined || window.kind === "expired") return { state, actions };
  if (window.kind === "idle") {
    const deadlineMs = nowMs + Math.round(seconds * 1000);
    actions.push({ type: "window_opened", deadlineMs, windowSeconds: seconds, magnitude: size });
    return {
      state: { ...state, window: { kind: "open", openedAtMs: nowMs, deadlineMs, extendedMs: 0 } },
      actions,
    };
  }
  // More drift shortens the window, but never below the minimum from now on.
  const formulaDeadline = window.openedAtMs + Math.round(seconds * 1000) + window.extendedMs;
  const floor = nowMs + state.settings.window.minWindowSeconds * 1000;
  const deadlineMs = Math.max(formulaDeadline, Math.min(floor, window.deadlineMs));
  actions.push({ type: "window_recomputed", deadlineMs, windowSeconds: seconds, magnitude: size });
  return { state: { ...state, window: { ...window, deadlineMs } }, actions };
}

/**
 * Opens a window as if drift of magnitude 1.0 had been seen (the reference
 * Impl's choice), unless one is open already: the observers will report
 * what the command actually changed.
 */
function stateChangingExec(state: EvaluatorState, nowMs: number): Step {
  const { settings, window } = state;
  if (settings.mode !== "enforce" || state.emergency !== undefined || window.kind !== "idle") {
    return { state, actions: [] };
  }
  const seconds = windowSeconds(Math.max(1, currentMagnitude(state)), settings.window)!;
  const deadlineMs = nowMs + Math.round(seconds * 1000);
  return {
    state: { ...state, window: { kind: "open", openedAtMs: nowMs, deadlineMs, extendedMs: 0 } },
    actions: [{ type: "window_opened", deadlineMs, windowSeconds: seconds, magnitude: 1 }],
  };
}

function tick(state: EvaluatorState, nowMs: number): Step {
  const window = windowTick(state, nowMs);
  const grace = graceExpiry(window.state, nowMs);
  return { state: grace.state, actions: [...window.actions, ...grace.actions] };
}

function windowTick(state: EvaluatorState, nowMs: number): Step {
  const actions: EvaluatorAction[] = [];
  let next = state;
  const emergency = state.emergency;
  if (emergency !== undefined && !emergency.stale && nowMs >= emergency.expiresAtMs) {
    const detail = `Emergency by ${emergency.admin} (${
      JSON.stringify(emergency.reason)
    }) passed its window without an end; a force-end is required`;
    actions.push({ type: "alert", kind: "stale_emergency", detail });
    actions.push({ type: "scheduling_hold", reason: "stale emergency" });
    next = { ...next, emergency: { ...emergency, stale: true } };
  }
  const window = next.window;
  if (
    window.kind !== "open" || nowMs < window.deadlineMs || next.emergency !== undefined ||
    next.settings.mode !== "enforce"
  ) {
    return { state: next, actions };
  }
  // Merge conflicts wait for an admin or their grace period, not the window (CR2).
  const paused = pausedIds(next);
  const items = [...next.drift.entries()].filter(([id]) => !paused.has(id)).map(([, i]) => i);
  if (items.length === 0 && paused.size === 0) {
    // A window an exec opened, and the command changed nothing observable.
    return { state: { ...next, window: { kind: "idle" } }, actions };
  }
  const needAck = items.filter((item) => next.settings.requireAck.has(item.dimension));
  const revert = items.filter((item) => !next.settings.requireAck.has(item.dimension));
  next = {
    ...next,
    window: { kind: "expired", openedAtMs: window.openedAtMs, expiredAtMs: nowMs, blockedBy: [] },
  };
  if (needAck.length > 0) {
    actions.push({
      type: "alert",
      kind: "ack_required",
      detail: `Commit window expired with drift that needs acknowledgement: ${
        needAck.map((item) => `${item.dimension} ${item.key}`).join(", ")
      }`,
    });
  }
  if (revert.length > 0 && !next.rollbackInFlight) {
    actions.push({ type: "rollback", trigger: "expiry", items: revert });
    next = { ...next, rollbackInFlight: true };
  }
  return { state: next, actions };
}

function applySettings(state: EvaluatorState, settings: EvaluatorSettings, nowMs: number): Step {
  const next: EvaluatorState = { ...state, settings };
  if (settings.mode !== "enforce") {
    return { state: { ...next, window: { kind: "idle" } }, actions: [] };
  }
  if (next.window.kind === "idle" && next.emergency === undefined && next.drift.size > 0) {
    return openOrRecompute(next, nowMs, []);
  }
  return { state: next, actions: [] };
}
