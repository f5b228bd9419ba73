/**
 * Types of the drift evaluator's state machine: its settings, state,
 * events (inputs) and actions (effects for the driver).
 */
import type { ErrorCode } from "../../shared/errors/mod.ts";
import type { ObserverEvent, Source } from "../observe/observer_event.ts";
import type { EnforcementMode } from "../config.ts";
import type { Blacklist } from "./blacklist.ts";
import type { WindowParameters } from "./commit_window.ts";
import type { Dimension, DriftVector, DriftWeights } from "./drift_vector.ts";

/** Policy the evaluator applies: agent.toml, overridden by the vCluster policy. */
export interface EvaluatorSettings {
  readonly mode: EnforcementMode;
  readonly weights: DriftWeights;
  readonly window: WindowParameters;
  readonly emergencyWindowSeconds: number;
  readonly blacklist: Blacklist;
  /** Dimensions reverted at once without a window (AutoConverge entries). */
  readonly autoConverge: ReadonlySet<Dimension>;
  /** Dimensions never rolled back automatically: expiry raises an alert instead. */
  readonly requireAck: ReadonlySet<Dimension>;
  readonly emergencyAllowed: boolean;
  /** Bound on remembered drifted keys; further keys still count and are journaled. */
  readonly maxDriftItems: number;
}

/** One drifted key. */
export interface DriftItem {
  readonly dimension: Dimension;
  readonly key: string;
  readonly detail: string;
  readonly source: Source;
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  readonly actor: string | undefined;
}

/** The node's commit window. */
export type WindowState =
  | { readonly kind: "idle" }
  | {
    readonly kind: "open";
    readonly openedAtMs: number;
    readonly deadlineMs: number;
    /** Added by `pact extend`; kept when new drift recomputes the deadline. */
    readonly extendedMs: number;
  }
  | {
    readonly kind: "expired";
    readonly openedAtMs: number;
    readonly expiredAtMs: number;
    /** Consumers that blocked the last rollback attempt (empty: none blocked it). */
    readonly blockedBy: readonly string[];
  };

/** An active emergency (at most one per node, A2). */
export interface EmergencySession {
  readonly startedAtMs: number;
  readonly expiresAtMs: number;
  readonly reason: string;
  readonly admin: string;
  /** Past its window without an end: alerted once, waits for a force-end. */
  readonly stale: boolean;
}

/** Everything the evaluator remembers. */
export interface EvaluatorState {
  readonly settings: EvaluatorSettings;
  readonly drift: ReadonlyMap<string, DriftItem>;
  readonly vector: DriftVector;
  readonly window: WindowState;
  readonly emergency: EmergencySession | undefined;
  readonly rollbackInFlight: boolean;
  /**
   * Merge conflicts (CR2): keys the node changed locally and the journal
   * changed to another value. Convergence is paused for them until an admin
   * commits (local wins) or rolls back (journal wins), or the grace period
   * ends (journal wins, CR3). Absent in states built before conflicts existed.
   */
  readonly conflicts?: ReadonlyMap<string, MergeConflict>;
}

/** One key changed both locally and in the journal, to different values. */
export interface MergeConflict {
  readonly dimension: Dimension;
  readonly key: string;
  /** What the node has (read by the driver when the journal's change arrived). */
  readonly localValue: string;
  /** What the journal now declares; a rollback or the grace expiry applies it. */
  readonly journalValue: string;
  readonly journalSequence: number;
  readonly detectedAtMs: number;
  /** detected + the grace period (the commit window's base duration). */
  readonly expiresAtMs: number;
}

/** One key the journal changed for this node (an overlay or node-delta update). */
export interface JournalChange {
  readonly dimension: Dimension;
  readonly key: string;
  readonly journalValue: string;
  /** The node's value now, read by the driver; undefined: absent or unreadable. */
  readonly localValue: string | undefined;
}

/** Why a rollback runs. */
export type RollbackTrigger = "expiry" | "admin" | "emergency_end" | "grace";

/** Inputs of the state machine. */
export type EvaluatorEvent =
  | { readonly type: "observed"; readonly event: ObserverEvent }
  | { readonly type: "tick" }
  | {
    readonly type: "commit";
    readonly author: string;
    readonly message: string;
    /**
     * The drift keys (`dimension:key`) the commit accepts, as its journal
     * entry's StateDelta names them; undefined: all current drift. Keys no
     * longer drifted are skipped, so applying one commit twice is harmless.
     */
    readonly keys?: readonly string[];
  }
  | { readonly type: "rollback"; readonly author: string }
  | {
    readonly type: "rollback_finished";
    readonly trigger: RollbackTrigger;
    readonly items: readonly DriftItem[];
    /** Processes or handles that refused the rollback; empty when it succeeded. */
    readonly consumers: readonly string[];
  }
  | { readonly type: "extend"; readonly minutes: number }
  /** A state-changing exec ran (S5): a window opens even before observers see its effect. */
  | { readonly type: "state_changing_exec"; readonly command: string }
  | { readonly type: "emergency_start"; readonly admin: string; readonly reason: string }
  | {
    readonly type: "emergency_end";
    readonly admin: string;
    readonly force: boolean;
    readonly resolution: "commit" | "rollback";
  }
  | { readonly type: "settings"; readonly settings: EvaluatorSettings }
  /**
   * The journal changed keys of this node (reconnect or live update): keys
   * not drifted are applied, drifted keys with the same value stop being
   * drift, drifted keys with another value become merge conflicts (CR2).
   */
  | {
    readonly type: "journal_changed";
    readonly sequence: number;
    readonly changes: readonly JournalChange[];
  };

/** Length and deadline of a commit window, and the magnitude that set them. */
export interface WindowTiming {
  readonly deadlineMs: number;
  readonly windowSeconds: number;
  readonly magnitude: number;
}

/** Effects for the driver. */
export type EvaluatorAction =
  | {
    readonly type: "journal_drift";
    readonly item: DriftItem;
    readonly vector: DriftVector;
    readonly magnitude: number;
  }
  | { readonly type: "warn"; readonly item: DriftItem; readonly magnitude: number }
  | { readonly type: "converge"; readonly item: DriftItem }
  | ({ readonly type: "window_opened" } & WindowTiming)
  | ({ readonly type: "window_recomputed" } & WindowTiming)
  | { readonly type: "window_extended"; readonly deadlineMs: number; readonly secondsLeft: number }
  | {
    readonly type: "rollback";
    readonly trigger: RollbackTrigger;
    readonly items: readonly DriftItem[];
  }
  | {
    readonly type: "journal_rollback";
    readonly trigger: RollbackTrigger;
    readonly items: readonly DriftItem[];
    readonly ok: boolean;
    readonly consumers: readonly string[];
  }
  | {
    readonly type: "journal_commit";
    readonly items: readonly DriftItem[];
    readonly author: string;
    readonly message: string;
  }
  | {
    readonly type: "alert";
    readonly kind: "rollback_blocked" | "ack_required" | "stale_emergency";
    readonly detail: string;
  }
  | { readonly type: "scheduling_hold"; readonly reason: string }
  /**
   * Take the journal's values as what a rollback restores; with `apply`
   * also write them to the node (keys not drifted locally).
   */
  | {
    readonly type: "declare_journal";
    readonly changes: readonly JournalChange[];
    readonly apply: boolean;
  }
  /** A merge-conflict record for the journal (detected, resolved, overwritten at grace expiry). */
  | {
    readonly type: "journal_conflict";
    readonly kind: "merge_detected" | "merge_resolved" | "grace_overwrite";
    readonly conflicts: readonly MergeConflict[];
    /** `accept_local`, `accept_journal` or `journal_wins` (grace); empty when detected. */
    readonly resolution: string;
  }
  | {
    readonly type: "journal_emergency_start";
    readonly admin: string;
    readonly reason: string;
    readonly ttlSeconds: number;
  }
  | {
    readonly type: "journal_emergency_end";
    readonly admin: string;
    readonly startedBy: string;
    readonly forced: boolean;
  };

/** A refused command: the code maps to a CLI exit code at the boundary. */
export interface StepError {
  readonly code: ErrorCode;
  readonly message: string;
}

/** What one step gives back. */
export interface Step {
  readonly state: EvaluatorState;
  readonly actions: readonly EvaluatorAction[];
  readonly error?: StepError;
}
