/**
 * Merge conflicts after a partition (reference §2.19, CR2/CR3): the
 * journal changed a key that the node changed locally (an uncommitted
 * drift item) to another value. Pure steps of the evaluator's state
 * machine; the driver reads the node's values and carries out the actions.
 *
 *   journal change on key K
 *     K not drifted            -> declare + apply the journal's value
 *     K drifted, same value    -> declare it; K is no longer drift
 *     K drifted, other value   -> conflict: declare it, apply nothing, pause K
 *   conflict --pact commit K--------------> resolved, local wins (merge_resolved accept_local)
 *   conflict --pact rollback---------------> journal's value applied (merge_resolved accept_journal)
 *   conflict --tick >= detected + grace----> journal's value applied (grace_overwrite, journal_wins)
 *
 * The grace period is the commit window's base duration. A conflicted key is
 * never reverted by the commit window's expiry; emergency mode holds the
 * grace overwrite back (no automatic change during an emergency).
 */
import { addTo, ZERO_VECTOR } from "./drift_vector.ts";
import type {
  EvaluatorAction,
  EvaluatorEvent,
  EvaluatorState,
  JournalChange,
  MergeConflict,
  Step,
  WindowState,
} from "./evaluator_types.ts";

const NONE: ReadonlyMap<string, MergeConflict> = new Map();

/** The state's conflicts (none for states built before conflicts existed). */
export function conflictsOf(state: EvaluatorState): ReadonlyMap<string, MergeConflict> {
  return state.conflicts ?? NONE;
}

/** Grace period in ms: the commit window's base duration. */
export function graceMs(state: EvaluatorState): number {
  return Math.round(state.settings.window.baseWindowSeconds * 1000);
}

/** Applies the journal's changes of one entry (see the module comment). */
export function journalChanged(
  state: EvaluatorState,
  sequence: number,
  changes: readonly JournalChange[],
  nowMs: number,
): Step {
  const apply: JournalChange[] = [];
  const same: JournalChange[] = [];
  const conflicting: JournalChange[] = [];
  for (const change of changes) {
    const id = `${change.dimension}:${change.key}`;
    if (!state.drift.has(id)) apply.push(change);
    else if (change.localValue === change.journalValue) same.push(change);
    else conflicting.push(change);
  }
  const conflicts = new Map(conflictsOf(state));
  const drift = new Map(state.drift);
  let vector = state.vector;
  for (const change of same) {
    const id = `${change.dimension}:${change.key}`;
    drift.delete(id);
    conflicts.delete(id);
    vector = addTo(vector, change.dimension, -Math.min(1, vector[change.dimension]));
  }
  const detected: MergeConflict[] = [];
  for (const change of conflicting) {
    const id = `${change.dimension}:${change.key}`;
    const known = conflicts.get(id);
    const conflict: MergeConflict = {
      dimension: change.dimension,
      key: change.key,
      localValue: change.localValue ?? "",
      journalValue: change.journalValue,
      journalSequence: sequence,
      // A second journal change of a conflicted key keeps the first deadline.
      detectedAtMs: known?.detectedAtMs ?? nowMs,
      expiresAtMs: known?.expiresAtMs ?? nowMs + graceMs(state),
    };
    conflicts.set(id, conflict);
    detected.push(conflict);
  }
  if (drift.size === 0) vector = ZERO_VECTOR;
  const window: WindowState = drift.size === 0 ? { kind: "idle" } : state.window;
  const actions: EvaluatorAction[] = [];
  if (apply.length > 0) actions.push({ type: "declare_journal", changes: apply, apply: true });
  if (same.length > 0) actions.push({ type: "declare_journal", changes: same, apply: false });
  if (conflicting.length > 0) {
    actions.push({ type: "declare_journal", changes: conflicting, apply: false });
    actions.push({
      type: "journal_conflict",
      kind: "merge_detected",
      conflicts: detected,
      resolution: "",
    });
  }
  return { state: { ...state, drift, vector, window, conflicts }, actions };
}

/**
 * At a tick: conflicts past their grace period fall back to journal-wins
 * (CR3): a rollback of those keys (the declared value is the journal's)
 * whose outcome journals the overwritten local values.
 */
export function graceExpiry(state: EvaluatorState, nowMs: number): Step {
  const conflicts = conflictsOf(state);
  if (conflicts.size === 0 || state.emergency !== undefined || state.rollbackInFlight) {
    return { state, actions: [] };
  }
  const items = [...conflicts.entries()]
    .filter(([, conflict]) => nowMs >= conflict.expiresAtMs)
    .map(([id]) => state.drift.get(id))
    .filter((item) => item !== undefined);
  if (items.length === 0) return { state, actions: [] };
  return {
    state: { ...state, rollbackInFlight: true },
    actions: [{ type: "rollback", trigger: "grace", items }],
  };
}

/**
 * After any step: conflicts whose key left the drift are resolved. By a
 * commit the local value won; by a rollback the journal's (at grace expiry:
 * the overwritten local values are in the record). Keys still drifted stay
 * conflicted.
 */
export function settleConflicts(
  before: EvaluatorState,
  event: EvaluatorEvent,
  result: Step,
): Step {
  const conflicts = conflictsOf(result.state);
  if (conflicts.size === 0 || event.type === "journal_changed") return result;
  const left = [...conflicts.entries()].filter(([id]) => !result.state.drift.has(id));
  if (left.length === 0) return result;
  const remaining = new Map(conflicts);
  for (const [id] of left) remaining.delete(id);
  const grace = event.type === "rollback_finished" && event.trigger === "grace";
  const accepted = event.type === "commit" ||
    (event.type === "emergency_end" && event.resolution === "commit" &&
      before.emergency !== undefined);
  const action: EvaluatorAction = {
    type: "journal_conflict",
    kind: grace ? "grace_overwrite" : "merge_resolved",
    conflicts: left.map(([, conflict]) => conflict),
    resolution: grace ? "journal_wins" : accepted ? "accept_local" : "accept_journal",
  };
  return {
    ...result,
    state: { ...result.state, conflicts: remaining },
    actions: [...result.actions, action],
  };
}

/** Conflicted drift ids: the commit window's expiry leaves them alone (CR2). */
export function pausedIds(state: EvaluatorState): ReadonlySet<string> {
  return new Set(conflictsOf(state).keys());
}
