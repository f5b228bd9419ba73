import assert from "node:assert/strict";
import { ManualClock } from "../../shared/clock/clock.ts";
import { DEFAULT_WINDOW } from "./commit_window.ts";
import {
  type EvaluatorAction,
  type EvaluatorEvent,
  evaluatorSettings,
  type EvaluatorState,
  initialState,
  type JournalChange,
  type Step,
  step,
} from "./evaluator.ts";
import { conflictsOf } from "./merge.ts";

/** Base window 900 s: the grace period. */
function harness(mode: "enforce" | "observe" = "enforce") {
  const clock = new ManualClock(1_000_000);
  let state: EvaluatorState = initialState(evaluatorSettings({
    mode,
    window: DEFAULT_WINDOW,
    emergencyWindowSeconds: 14_400,
    blacklist: [],
  }));
  const send = (event: EvaluatorEvent): Step => {
    const result = step(state, event, clock.now());
    state = result.state;
    return result;
  };
  return {
    clock,
    get state() {
      return state;
    },
    send,
    sysctl(key: string, from: string, to: string): Step {
      return send({
        type: "observed",
        event: {
          category: "kernel",
          key,
          detail: `"${from}" -> "${to}"`,
          source: "manual",
          atMs: clock.now(),
        },
      });
    },
    journal(sequence: number, ...changes: JournalChange[]): Step {
      return send({ type: "journal_changed", sequence, changes });
    },
  };
}

const kernel = (key: string, journalValue: string, localValue?: string): JournalChange => ({
  dimension: "kernel",
  key,
  journalValue,
  localValue,
});

/** The one action of `type` in `actions`. */
function one<T extends EvaluatorAction["type"]>(
  actions: readonly EvaluatorAction[],
  type: T,
): Extract<EvaluatorAction, { type: T }> {
  const found = ofType(actions, type);
  assert.equal(found.length, 1, `one ${type} in ${actions.map((a) => a.type).join(", ")}`);
  return found[0]!;
}

function ofType<T extends EvaluatorAction["type"]>(
  actions: readonly EvaluatorAction[],
  type: T,
): Extract<EvaluatorAction, { type: T }>[] {
  return actions.filter((a) => a.type === type) as Extract<EvaluatorAction, { type: T }>[];
}

Deno.test("merge: a drifted key the journal changes to another value is a conflict, not applied", () => {
  const h = harness();
  h.sysctl("vm.swappiness", "60", "10");
  const result = h.journal(
    42,
    kernel("vm.swappiness", "30", "10"),
    kernel("net.core.somaxconn", "4096", "128"),
  );
  const declared = ofType(result.actions, "declare_journal");
  assert.deepEqual(
    declared.map((d) => [d.apply, d.changes.map((c) => c.key)]),
    [[true, ["net.core.somaxconn"]], [false, ["vm.swappiness"]]],
    "the non-conflicting key is applied, the conflicting one only declared",
  );
  const detected = one(result.actions, "journal_conflict");
  assert.equal(detected.kind, "merge_detected");
  assert.deepEqual(detected.conflicts.map((c) => [c.key, c.localValue, c.journalValue]), [[
    "vm.swappiness",
    "10",
    "30",
  ]]);
  const conflict = conflictsOf(h.state).get("kernel:vm.swappiness")!;
  assert.equal(conflict.detectedAtMs, 1_000_000);
  assert.equal(conflict.expiresAtMs, 1_000_000 + 900_000, "grace = base window");
  assert.equal(conflict.journalSequence, 42);
  assert.ok(h.state.drift.has("kernel:vm.swappiness"), "the local change stays drift");
  assert.equal(ofType(result.actions, "rollback").length, 0);
});

Deno.test("merge: the same value on both sides is no conflict and ends the drift", () => {
  const h = harness();
  h.sysctl("vm.swappiness", "60", "10");
  const result = h.journal(7, kernel("vm.swappiness", "10", "10"));
  assert.equal(ofType(result.actions, "journal_conflict").length, 0);
  assert.equal(conflictsOf(h.state).size, 0);
  assert.equal(h.state.drift.size, 0);
  assert.equal(h.state.window.kind, "idle", "no drift left: the window closes");
  const declared = one(result.actions, "declare_journal");
  assert.equal(declared.apply, false);
});

Deno.test("merge: the commit window's expiry leaves a conflicted key alone, other keys roll back", () => {
  const h = harness();
  h.sysctl("vm.swappiness", "60", "10");
  h.sysctl("kernel.pid_max", "32768", "65536");
  h.journal(3, kernel("vm.swappiness", "30", "10"));
  const deadline = h.state.window.kind === "open" ? h.state.window.deadlineMs : 0;
  assert.ok(deadline > 0 && deadline < 1_000_000 + 900_000, "the window ends before the grace");
  h.clock.advance(deadline - h.clock.now());
  const result = h.send({ type: "tick" });
  const rollback = one(result.actions, "rollback");
  assert.equal(rollback.trigger, "expiry");
  assert.deepEqual(rollback.items.map((i) => i.key), ["kernel.pid_max"]);
  const done = h.send({
    type: "rollback_finished",
    trigger: "expiry",
    items: rollback.items,
    consumers: [],
  });
  assert.equal(ofType(done.actions, "journal_conflict").length, 0);
  assert.ok(conflictsOf(h.state).has("kernel:vm.swappiness"), "still conflicted");
});

Deno.test("merge: pact commit of the key resolves the conflict, local wins", () => {
  const h = harness();
  h.sysctl("vm.swappiness", "60", "10");
  h.journal(3, kernel("vm.swappiness", "30", "10"));
  const result = h.send({
    type: "commit",
    author: "admin@example",
    message: "keep 10",
    keys: ["kernel:vm.swappiness"],
  });
  const resolved = one(result.actions, "journal_conflict");
  assert.equal(resolved.kind, "merge_resolved");
  assert.equal(resolved.resolution, "accept_local");
  assert.equal(resolved.conflicts[0]!.localValue, "10");
  assert.equal(conflictsOf(h.state).size, 0);
  h.clock.advance(2_000_000);
  assert.equal(ofType(h.send({ type: "tick" }).actions, "rollback").length, 0, "no grace rollback");
});

Deno.test("merge: pact rollback resolves the conflict, journal wins", () => {
  const h = harness();
  h.sysctl("vm.swappiness", "60", "10");
  h.journal(3, kernel("vm.swappiness", "30", "10"));
  const asked = h.send({ type: "rollback", author: "admin@example" });
  const rollback = one(asked.actions, "rollback");
  assert.deepEqual(rollback.items.map((i) => i.key), ["vm.swappiness"]);
  assert.equal(ofType(asked.actions, "journal_conflict").length, 0, "resolved once restored");
  const done = h.send({
    type: "rollback_finished",
    trigger: "admin",
    items: rollback.items,
    consumers: [],
  });
  const resolved = one(done.actions, "journal_conflict");
  assert.equal(resolved.kind, "merge_resolved");
  assert.equal(resolved.resolution, "accept_journal");
  assert.equal(resolved.conflicts[0]!.journalValue, "30");
  assert.equal(conflictsOf(h.state).size, 0);
});

Deno.test("merge: past the grace period the journal wins and the overwritten value is recorded", () => {
  const h = harness();
  h.sysctl("vm.swappiness", "60", "10");
  h.journal(3, kernel("vm.swappiness", "30", "10"));
  h.clock.advance(900_000 - 1);
  const early = h.send({ type: "tick" });
  assert.ok(
    ofType(early.actions, "rollback").every((r) => r.trigger !== "grace"),
    "not before the grace period ends",
  );
  if (h.state.rollbackInFlight) {
    // The window expired first (it is shorter): let that rollback (of no key) finish.
    h.send({ type: "rollback_finished", trigger: "expiry", items: [], consumers: [] });
  }
  h.clock.advance(1);
  const result = h.send({ type: "tick" });
  const rollback = one(result.actions, "rollback");
  assert.equal(rollback.trigger, "grace");
  assert.deepEqual(rollback.items.map((i) => i.key), ["vm.swappiness"]);
  const done = h.send({
    type: "rollback_finished",
    trigger: "grace",
    items: rollback.items,
    consumers: [],
  });
  const overwrite = one(done.actions, "journal_conflict");
  assert.equal(overwrite.kind, "grace_overwrite");
  assert.equal(overwrite.resolution, "journal_wins");
  assert.deepEqual(
    overwrite.conflicts.map((c) => [c.key, c.localValue, c.journalValue]),
    [["vm.swappiness", "10", "30"]],
  );
  assert.equal(h.state.drift.size, 0);
  assert.equal(conflictsOf(h.state).size, 0);
});

Deno.test("merge: emergency mode holds the grace overwrite back", () => {
  const h = harness();
  h.sysctl("vm.swappiness", "60", "10");
  h.journal(3, kernel("vm.swappiness", "30", "10"));
  h.send({ type: "emergency_start", admin: "ops@example", reason: "incident" });
  h.clock.advance(1_000_000);
  const result = h.send({ type: "tick" });
  assert.equal(ofType(result.actions, "rollback").length, 0);
  assert.equal(conflictsOf(h.state).size, 1);
});

Deno.test("merge: a second journal change of a conflicted key keeps the first deadline", () => {
  const h = harness("observe");
  h.sysctl("vm.swappiness", "60", "10");
  h.journal(3, kernel("vm.swappiness", "30", "10"));
  h.clock.advance(60_000);
  h.journal(9, kernel("vm.swappiness", "40", "10"));
  const conflict = conflictsOf(h.state).get("kernel:vm.swappiness")!;
  assert.equal(conflict.journalValue, "40");
  assert.equal(conflict.journalSequence, 9);
  assert.equal(conflict.expiresAtMs, 1_000_000 + 900_000);
});

Deno.test("merge: the diff detail of a conflict parses back into both values and the expiry", async () => {
  const { conflictDetail } = await import("../shell/config/drift_view.ts");
  const { conflictOf } = await import("../../cli/ops/diff.ts");
  const h = harness();
  h.sysctl("vm.swappiness", "60", "10");
  h.journal(5, kernel("vm.swappiness", 'a "quoted" value', "10"));
  const detail = conflictDetail(conflictsOf(h.state).get("kernel:vm.swappiness")!);
  assert.deepEqual(conflictOf(detail), {
    local: "10",
    journal: 'a "quoted" value',
    journal_sequence: 5,
    detected_at: new Date(1_000_000).toISOString(),
    grace_period_expires: new Date(1_900_000).toISOString(),
  });
  assert.equal(conflictOf('"60" -> "10"'), null);
});
