import assert from "node:assert/strict";
import {
  type CrashHistory,
  decideRestart,
  DEFAULT_RESTART_LIMITS,
  type ExitStatus,
  NO_CRASHES,
} from "./restart_decision.ts";
import type { RestartPolicy } from "./service_spec.ts";

const clean: ExitStatus = { code: 0, signal: null };
const failed: ExitStatus = { code: 3, signal: null };
const killed: ExitStatus = { code: null, signal: "SIGKILL" };
const timing = { nowMs: 10_000, startedAtMs: 9_000, baseDelayMs: 1000 };

Deno.test("decideRestart() follows each restart policy", () => {
  const cases: [RestartPolicy, ExitStatus, string][] = [
    ["always", clean, "restart"],
    ["always", failed, "restart"],
    ["on_failure", clean, "stay_stopped"],
    ["on_failure", failed, "restart"],
    ["on_failure", killed, "restart"],
    ["never", failed, "stay_stopped"],
    ["never", clean, "stay_stopped"],
  ];
  for (const [policy, exit, expected] of cases) {
    assert.equal(
      decideRestart(policy, exit, NO_CRASHES, timing).kind,
      expected,
      `${policy} ${exit.code}`,
    );
  }
});

Deno.test("decideRestart() doubles the delay per crash up to the cap", () => {
  const limits = { ...DEFAULT_RESTART_LIMITS, backoffMaxMs: 10_000, crashLoopExitsMax: 100 };
  let history: CrashHistory = NO_CRASHES;
  const delays: number[] = [];
  for (let crash = 0; crash < 6; crash++) {
    const nowMs = 1_000_000 + crash * 100_000; // far apart: no crash loop
    const decision = decideRestart("always", failed, history, {
      nowMs,
      startedAtMs: nowMs - 10,
      baseDelayMs: 1000,
    }, limits);
    assert.equal(decision.kind, "restart");
    if (decision.kind === "restart") delays.push(decision.delayMs);
    history = decision.history;
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 10_000, 10_000]);
});

Deno.test("decideRestart() starts the backoff over after a long enough run", () => {
  const history: CrashHistory = { consecutive: 4, exitTimesMs: [] };
  const short = decideRestart("always", failed, history, {
    nowMs: 100_000,
    startedAtMs: 99_000,
    baseDelayMs: 500,
  });
  const long = decideRestart("always", failed, history, {
    nowMs: 100_000,
    startedAtMs: 30_000,
    baseDelayMs: 500,
  });
  assert.equal(short.kind === "restart" && short.delayMs, 8000);
  assert.equal(long.kind === "restart" && long.delayMs, 500);
});

Deno.test("decideRestart() reports a crash loop after too many exits in the window", () => {
  let history: CrashHistory = NO_CRASHES;
  const kinds: string[] = [];
  for (let crash = 0; crash < 5; crash++) {
    const nowMs = 1000 * crash;
    const decision = decideRestart("on_failure", failed, history, {
      nowMs,
      startedAtMs: nowMs,
      baseDelayMs: 100,
    });
    kinds.push(decision.kind);
    history = decision.history;
  }
  assert.deepEqual(kinds, ["restart", "restart", "restart", "restart", "crash_loop"]);
  // The same five exits spread beyond the window are no loop.
  history = NO_CRASHES;
  for (let crash = 0; crash < 5; crash++) {
    const nowMs = 20_000 * crash;
    const decision = decideRestart("on_failure", failed, history, {
      nowMs,
      startedAtMs: nowMs,
      baseDelayMs: 100,
    });
    assert.equal(decision.kind, "restart");
    history = decision.history;
  }
});
