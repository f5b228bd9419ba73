import assert from "node:assert/strict";
import { ManualClock } from "../../shared/clock/clock.ts";
import { ExitCode, exitCodeFor } from "../../shared/errors/mod.ts";
import type { Category, ObserverEvent } from "../observe/observer_event.ts";
import { DEFAULT_WINDOW } from "./commit_window.ts";
import {
  effectiveWhitelist,
  type EvaluatorAction,
  type EvaluatorEvent,
  type EvaluatorSettings,
  evaluatorSettings,
  type EvaluatorState,
  initialState,
  type Step,
  step,
} from "./evaluator.ts";
import type { Dimension } from "./drift_vector.ts";
import { configStateOf } from "./node_state.ts";
import { ConfigState } from "../../shared/proto/gen/pact/config/config.ts";

const BLACKLIST = ["/tmp/**", "/var/log/**", "/proc/**", "/sys/**", "/dev/**", "/run/user/**"];

function settings(overrides: Partial<Parameters<typeof evaluatorSettings>[0]> = {}) {
  return evaluatorSettings({
    mode: "enforce",
    window: DEFAULT_WINDOW,
    emergencyWindowSeconds: 14_400,
    blacklist: BLACKLIST,
    ...overrides,
  });
}

/** Drives the evaluator like the agent does, with a manual clock. */
class Harness {
  readonly clock = new ManualClock();
  state: EvaluatorState;
  last: Step | undefined;

  constructor(s: EvaluatorSettings = settings()) {
    this.state = initialState(s);
  }

  send(event: EvaluatorEvent): Step {
    const result = step(this.state, event, this.clock.now());
    this.state = result.state;
    this.last = result;
    return result;
  }

  observe(category: Category, key: string, detail = "changed"): Step {
    const event: ObserverEvent = {
      category,
      key,
      detail,
      source: "manual",
      atMs: this.clock.now(),
    };
    return this.send({ type: "observed", event });
  }

  advanceSeconds(seconds: number): Step {
    this.clock.advance(seconds * 1000);
    return this.send({ type: "tick" });
  }
}

function types(actions: readonly EvaluatorAction[]): string[] {
  return actions.map((action) => action.type);
}

function only<T extends EvaluatorAction["type"]>(
  actions: readonly EvaluatorAction[],
  type: T,
): Extract<EvaluatorAction, { type: T }> {
  const found = actions.filter((action) => action.type === type);
  assert.equal(found.length, 1, `expected one ${type} action in ${types(actions).join(", ")}`);
  return found[0] as Extract<EvaluatorAction, { type: T }>;
}

Deno.test("step() in observe mode journals drift and opens no window (D5)", () => {
  const h = new Harness(settings({ mode: "observe" }));
  const result = h.observe("file", "/etc/hosts");
  assert.deepEqual(types(result.actions), ["journal_drift"]);
  assert.equal(only(result.actions, "journal_drift").magnitude, 1);
  assert.equal(h.state.window.kind, "idle");
  h.advanceSeconds(10_000);
  assert.deepEqual(types(h.last!.actions), [], "no rollback in observe mode");
  assert.equal(configStateOf(h.state), ConfigState.OBSERVE_ONLY);
});

Deno.test("step() in warn mode journals drift and warns, without a window", () => {
  const h = new Harness(settings({ mode: "warn" }));
  const result = h.observe("kernel", "vm.swappiness", '"60" -> "10"');
  assert.deepEqual(types(result.actions), ["journal_drift", "warn"]);
  assert.equal(only(result.actions, "warn").magnitude, 2);
  assert.equal(h.state.window.kind, "idle");
});

Deno.test("step() ignores blacklisted paths but never applies the blacklist to sysctl names", () => {
  const h = new Harness();
  assert.deepEqual(h.observe("file", "/tmp/scratch/x").actions, []);
  assert.deepEqual(h.observe("file", "/var/log/messages").actions, []);
  assert.deepEqual(h.observe("mount", "/proc/fs/nfsd").actions, []);
  assert.equal(h.state.drift.size, 0);
  assert.equal(h.state.window.kind, "idle");
  // /proc/** is blacklisted, but a sysctl key is a name, not a path.
  assert.ok(types(h.observe("kernel", "vm.swappiness").actions).includes("window_opened"));
});

Deno.test("step() opens a window whose length is the formula's, and recomputes it keeping opened_at", () => {
  const h = new Harness();
  const openedAt = h.clock.now();
  const first = only(h.observe("file", "/etc/hosts").actions, "window_opened");
  assert.equal(first.magnitude, 1);
  assert.equal(first.windowSeconds, 300, "900 / (1 + 1 * 2)");
  assert.equal(first.deadlineMs, openedAt + 300_000);
  assert.equal(configStateOf(h.state), ConfigState.DRIFTED);

  h.clock.advance(100_000);
  const second = only(h.observe("kernel", "vm.swappiness").actions, "window_recomputed");
  const expectedMagnitude = Math.sqrt(1 + 4);
  assert.ok(Math.abs(second.magnitude - expectedMagnitude) < 1e-12);
  const expectedSeconds = 900 / (1 + expectedMagnitude * 2);
  assert.ok(Math.abs(second.windowSeconds - expectedSeconds) < 1e-9);
  assert.equal(second.deadlineMs, openedAt + Math.round(expectedSeconds * 1000));
  assert.ok(h.state.window.kind === "open" && h.state.window.openedAtMs === openedAt);
});

Deno.test("step() counts the same key once however often it changes", () => {
  const h = new Harness();
  h.observe("file", "/etc/hosts", "first");
  const again = h.observe("file", "/etc/hosts", "second");
  assert.deepEqual(again.actions, []);
  assert.equal(h.state.vector.files, 1);
  assert.equal(h.state.drift.get("files:/etc/hosts")?.detail, "second");
});

Deno.test("step() lets more drift shorten a window, never below the minimum from now on", () => {
  const h = new Harness();
  const openedAt = h.clock.now();
  h.observe("file", "/etc/a"); // 300 s window
  h.clock.advance(100_000);
  // 20 kernel keys: the formula says ~22 s after opened_at, already past.
  for (let i = 0; i < 20; i++) h.observe("kernel", `k.${i}`);
  assert.ok(h.state.window.kind === "open");
  assert.equal(h.state.window.deadlineMs, openedAt + 100_000 + 60_000);
  assert.equal(h.state.window.openedAtMs, openedAt);
  h.clock.advance(50_000);
  h.observe("kernel", "k.late");
  assert.equal(h.state.window.deadlineMs, openedAt + 160_000, "more drift never extends it");
});

Deno.test("step() clamps a huge drift's window to 60 s", () => {
  const h = new Harness(settings({ window: { ...DEFAULT_WINDOW, baseWindowSeconds: 900 } }));
  const event: ObserverEvent = {
    category: "gpu",
    key: "0",
    detail: "ECC",
    source: "manual",
    atMs: h.clock.now(),
  };
  const s = step(
    { ...h.state, vector: { ...h.state.vector, gpu: 50 } },
    { type: "observed", event },
    h.clock.now(),
  );
  assert.equal(only(s.actions, "window_opened").windowSeconds, 60);
});

Deno.test("step() rolls back on expiry and returns to Committed when the rollback succeeds (A4)", () => {
  const h = new Harness();
  h.observe("file", "/etc/hosts");
  h.observe("mount", "/scratch");
  assert.deepEqual(types(h.advanceSeconds(100).actions), [], "nothing before the deadline");
  const deadline = h.state.window.kind === "open" ? h.state.window.deadlineMs : 0;
  h.clock.set(deadline - 1);
  assert.deepEqual(types(h.send({ type: "tick" }).actions), []);
  h.clock.set(deadline);
  const rollback = only(h.send({ type: "tick" }).actions, "rollback");
  assert.equal(rollback.trigger, "expiry");
  assert.deepEqual(rollback.items.map((i) => i.key).sort(), ["/etc/hosts", "/scratch"]);
  assert.equal(h.state.window.kind, "expired");
  assert.deepEqual(types(h.advanceSeconds(10).actions), [], "one rollback at a time");

  const done = h.send({
    type: "rollback_finished",
    trigger: "expiry",
    items: rollback.items,
    consumers: [],
  });
  const journal = only(done.actions, "journal_rollback");
  assert.equal(journal.ok, true);
  assert.equal(done.error, undefined);
  assert.equal(h.state.window.kind, "idle");
  assert.equal(h.state.drift.size, 0);
  assert.equal(h.state.vector.files, 0);
  assert.equal(configStateOf(h.state), ConfigState.COMMITTED);
});

Deno.test("step() refuses a rollback blocked by active consumers: node stays drifted, exit 10 (A5)", () => {
  const h = new Harness();
  h.observe("mount", "/scratch");
  const rollback = only(h.advanceSeconds(300).actions, "rollback");
  const refused = h.send({
    type: "rollback_finished",
    trigger: "expiry",
    items: rollback.items,
    consumers: ["pid 4242 (python)"],
  });
  assert.equal(refused.error?.code, "ROLLBACK_ACTIVE_CONSUMERS");
  assert.equal(exitCodeFor(refused.error!.code), ExitCode.ROLLBACK_FAILED);
  assert.equal(ExitCode.ROLLBACK_FAILED, 10);
  assert.equal(
    only(refused.actions, "journal_rollback").ok,
    false,
    "the failed attempt is journaled",
  );
  assert.match(only(refused.actions, "alert").detail, /pid 4242 \(python\)/);
  assert.equal(configStateOf(h.state), ConfigState.DRIFTED);
  assert.ok(h.state.window.kind === "expired");
  assert.deepEqual(h.state.window.blockedBy, ["pid 4242 (python)"]);
  assert.deepEqual(
    types(h.advanceSeconds(600).actions),
    [],
    "no retry loop: the admin resolves it",
  );

  // An admin rollback meets the same check; a commit resolves it.
  const again = only(h.send({ type: "rollback", author: "ops@x" }).actions, "rollback");
  assert.equal(again.trigger, "admin");
  const refusedAgain = h.send({
    type: "rollback_finished",
    trigger: "admin",
    items: again.items,
    consumers: ["pid 1"],
  });
  assert.equal(refusedAgain.error?.code, "ROLLBACK_ACTIVE_CONSUMERS");
  const commit = h.send({ type: "commit", author: "ops@x", message: "keep scratch" });
  assert.equal(only(commit.actions, "journal_commit").items[0]?.key, "/scratch");
  assert.equal(configStateOf(h.state), ConfigState.COMMITTED);
});

Deno.test("step() commit records the drift and resets the vector; nothing to commit is refused", () => {
  const h = new Harness();
  assert.equal(h.send({ type: "commit", author: "a", message: "m" }).error?.code, "VALIDATION");
  h.observe("file", "/etc/hosts");
  h.observe("kernel", "vm.swappiness");
  const result = h.send({ type: "commit", author: "admin@x", message: "hugepages" });
  const commit = only(result.actions, "journal_commit");
  assert.equal(commit.author, "admin@x");
  assert.equal(commit.message, "hugepages");
  assert.equal(commit.items.length, 2);
  assert.equal(h.state.window.kind, "idle");
  assert.equal(h.state.vector.kernel, 0);
  assert.deepEqual(types(h.advanceSeconds(3600).actions), [], "no rollback after a commit");
  assert.equal(h.send({ type: "rollback", author: "a" }).error?.code, "VALIDATION");
});

Deno.test("step() commit of named keys accepts only those, once; the window closes with the last", () => {
  const h = new Harness();
  h.observe("file", "/etc/hosts");
  h.observe("kernel", "vm.swappiness");
  const keyed = (keys: string[]) =>
    h.send({ type: "commit", author: "admin@x", message: "m", keys });
  const first = keyed(["kernel:vm.swappiness", "kernel:vm.not-drifted"]);
  assert.deepEqual(only(first.actions, "journal_commit").items.map((i) => i.key), [
    "vm.swappiness",
  ]);
  assert.deepEqual([...h.state.drift.keys()], ["files:/etc/hosts"]);
  assert.equal(h.state.vector.kernel, 0);
  assert.equal(h.state.vector.files, 1);
  assert.equal(h.state.window.kind, "open", "drift is left: the window stays");
  // The same commit seen again (the subscription after the append) does nothing.
  const again = keyed(["kernel:vm.swappiness"]);
  assert.equal(again.error, undefined);
  assert.deepEqual(again.actions, []);
  keyed(["files:/etc/hosts"]);
  assert.equal(h.state.drift.size, 0);
  assert.equal(h.state.window.kind, "idle");
  assert.equal(h.state.vector.files, 0);
});

Deno.test("step() extend pushes the deadline out and refuses bad or pointless extensions", () => {
  const h = new Harness();
  assert.match(h.send({ type: "extend", minutes: 15 }).error!.message, /no window is open/);
  h.observe("file", "/etc/hosts");
  const before = h.state.window.kind === "open" ? h.state.window.deadlineMs : 0;
  h.clock.advance(60_000);
  const extended = only(h.send({ type: "extend", minutes: 15 }).actions, "window_extended");
  assert.equal(extended.deadlineMs, before + 15 * 60_000);
  assert.equal(extended.secondsLeft, 300 - 60 + 900);
  assert.equal(h.send({ type: "extend", minutes: 0 }).error?.code, "INVALID_ARGUMENT");
  assert.equal(h.send({ type: "extend", minutes: 1.5 }).error?.code, "INVALID_ARGUMENT");
  // The extension survives a recompute caused by new drift.
  const recomputed = only(h.observe("file", "/etc/motd").actions, "window_recomputed");
  const formula = 900_000 / (1 + 2 * 2); // two files: magnitude 2
  assert.equal(recomputed.deadlineMs, before - 300_000 + formula + 15 * 60_000);
});

Deno.test("step() extend reopens a window whose rollback was blocked", () => {
  const h = new Harness();
  h.observe("mount", "/scratch");
  const rollback = only(h.advanceSeconds(300).actions, "rollback");
  h.send({
    type: "rollback_finished",
    trigger: "expiry",
    items: rollback.items,
    consumers: ["pid 7"],
  });
  const extended = only(h.send({ type: "extend", minutes: 5 }).actions, "window_extended");
  assert.equal(extended.secondsLeft, 300);
  assert.equal(h.state.window.kind, "open");
  assert.equal(only(h.advanceSeconds(300).actions, "rollback").trigger, "expiry");
});

Deno.test("step() auto-converges listed categories at once and opens no window for them", () => {
  const h = new Harness(settings({ autoConverge: ["services", "kernel"] as Dimension[] }));
  const result = h.observe("service", "chronyd", "running -> stopped");
  assert.deepEqual(types(result.actions), ["journal_drift", "converge"]);
  assert.equal(only(result.actions, "converge").item.key, "chronyd");
  assert.equal(h.state.window.kind, "idle");
  assert.equal(h.state.drift.size, 0);
  assert.ok(types(h.observe("file", "/etc/hosts").actions).includes("window_opened"));
});

Deno.test("step() asks for acknowledgement instead of rolling back require-ack categories", () => {
  const h = new Harness(settings({ requireAck: ["mounts", "network", "gpu"] as Dimension[] }));
  h.observe("mount", "/scratch");
  h.observe("file", "/etc/hosts");
  const expiry = h.advanceSeconds(3600);
  assert.match(only(expiry.actions, "alert").detail, /needs acknowledgement: mounts \/scratch/);
  assert.deepEqual(only(expiry.actions, "rollback").items.map((i) => i.key), ["/etc/hosts"]);
  const done = h.send({
    type: "rollback_finished",
    trigger: "expiry",
    items: only(expiry.actions, "rollback").items,
    consumers: [],
  });
  assert.equal(only(done.actions, "journal_rollback").ok, true);
  assert.equal(configStateOf(h.state), ConfigState.DRIFTED, "the mount still waits for an admin");
  assert.equal(h.state.vector.mounts, 1);
  assert.equal(h.state.vector.files, 0);
});

Deno.test("step() emergency replaces the window with 4 h, suspends rollback and goes stale once", () => {
  const h = new Harness();
  h.observe("file", "/etc/hosts");
  const start = h.send({ type: "emergency_start", admin: "alice@x", reason: "GPU firmware" });
  assert.deepEqual(only(start.actions, "journal_emergency_start"), {
    type: "journal_emergency_start",
    admin: "alice@x",
    reason: "GPU firmware",
    ttlSeconds: 14_400,
  });
  assert.equal(h.state.window.kind, "idle");
  assert.equal(configStateOf(h.state), ConfigState.EMERGENCY);
  assert.deepEqual(types(h.observe("kernel", "vm.swappiness").actions), ["journal_drift"]);
  assert.deepEqual(types(h.advanceSeconds(14_399).actions), [], "no auto-rollback in emergency");
  const stale = h.advanceSeconds(1);
  assert.deepEqual(types(stale.actions), ["alert", "scheduling_hold"]);
  assert.equal(only(stale.actions, "alert").kind, "stale_emergency");
  assert.deepEqual(types(h.advanceSeconds(3600).actions), [], "alerted once, never auto-exits");
  assert.ok(h.state.emergency?.stale);
  assert.equal(configStateOf(h.state), ConfigState.EMERGENCY);
});

Deno.test("step() refuses a second emergency, one without reason, and one the policy forbids", () => {
  const h = new Harness();
  assert.equal(
    h.send({ type: "emergency_start", admin: "a", reason: "  " }).error?.code,
    "INVALID_ARGUMENT",
  );
  h.send({ type: "emergency_start", admin: "a", reason: "r" });
  const second = h.send({ type: "emergency_start", admin: "b", reason: "r2" });
  assert.equal(second.error?.code, "ALREADY_EXISTS");
  assert.match(second.error!.message, /emergency mode already active \(started by a\)/);
  const forbidden = new Harness(settings({ emergencyAllowed: false }));
  const denied = forbidden.send({ type: "emergency_start", admin: "a", reason: "r" });
  assert.equal(denied.error?.code, "POLICY_DENIED");
  assert.equal(exitCodeFor(denied.error!.code), ExitCode.POLICY);
  assert.equal(forbidden.state.emergency, undefined);
});

Deno.test("step() emergency end: initiator only unless forced, then commit or rollback", () => {
  const h = new Harness();
  assert.equal(
    h.send({ type: "emergency_end", admin: "a", force: false, resolution: "commit" }).error?.code,
    "VALIDATION",
  );
  h.send({ type: "emergency_start", admin: "alice@x", reason: "debug" });
  h.observe("file", "/etc/hosts");
  const denied = h.send({
    type: "emergency_end",
    admin: "bob@x",
    force: false,
    resolution: "commit",
  });
  assert.equal(denied.error?.code, "PERMISSION_DENIED");
  assert.match(denied.error!.message, /only alice@x may end it without --force/);
  assert.ok(h.state.emergency !== undefined);

  const forced = h.send({
    type: "emergency_end",
    admin: "bob@x",
    force: true,
    resolution: "rollback",
  });
  assert.deepEqual(types(forced.actions), ["journal_emergency_end", "rollback"]);
  assert.deepEqual(only(forced.actions, "journal_emergency_end"), {
    type: "journal_emergency_end",
    admin: "bob@x",
    startedBy: "alice@x",
    forced: true,
  });
  assert.equal(only(forced.actions, "rollback").trigger, "emergency_end");
  assert.equal(h.state.emergency, undefined);

  const own = new Harness();
  own.send({ type: "emergency_start", admin: "alice@x", reason: "debug" });
  own.observe("kernel", "vm.swappiness");
  const ended = own.send({
    type: "emergency_end",
    admin: "alice@x",
    force: false,
    resolution: "commit",
  });
  assert.deepEqual(types(ended.actions), ["journal_emergency_end", "journal_commit"]);
  assert.equal(only(ended.actions, "journal_emergency_end").forced, false);
  assert.equal(configStateOf(own.state), ConfigState.COMMITTED);
});

Deno.test("effectiveWhitelist() adds no command in emergency mode (A10)", () => {
  const h = new Harness();
  const whitelist = ["cat", "dmesg", "nvidia-smi"];
  const before = effectiveWhitelist(whitelist, h.state);
  h.send({ type: "emergency_start", admin: "a", reason: "r" });
  assert.deepEqual(effectiveWhitelist(whitelist, h.state), before);
  assert.deepEqual([...before], whitelist);
});

Deno.test("step() settings: observe closes the window, enforce opens one for pending drift", () => {
  const h = new Harness();
  h.observe("file", "/etc/hosts");
  h.send({ type: "settings", settings: settings({ mode: "observe" }) });
  assert.equal(h.state.window.kind, "idle");
  assert.deepEqual(types(h.advanceSeconds(3600).actions), []);
  const back = h.send({ type: "settings", settings: settings({ mode: "enforce" }) });
  assert.equal(only(back.actions, "window_opened").windowSeconds, 300);
});

Deno.test("step() opens a window for a state-changing exec and closes it quietly if nothing drifted", () => {
  const h = new Harness();
  const opened = only(
    h.send({ type: "state_changing_exec", command: "sysctl -w vm.swappiness=10" }).actions,
    "window_opened",
  );
  assert.equal(opened.windowSeconds, 300, "as if magnitude 1.0");
  assert.equal(configStateOf(h.state), ConfigState.COMMITTED, "no drift recorded yet");
  assert.deepEqual(
    h.send({ type: "state_changing_exec", command: "x" }).actions,
    [],
    "one window at a time",
  );
  assert.deepEqual(types(h.advanceSeconds(300).actions), [], "nothing to roll back");
  assert.equal(h.state.window.kind, "idle");

  const observe = new Harness(settings({ mode: "observe" }));
  assert.deepEqual(observe.send({ type: "state_changing_exec", command: "x" }).actions, []);
});
