import assert from "node:assert/strict";
import { BootFailed, PhaseRunner } from "./boot_phases.ts";

Deno.test("PhaseRunner times phases in order and a failure stops the boot with the phases so far", async () => {
  let now = 100;
  const seen: string[] = [];
  const runner = new PhaseRunner(() => now, (p) => seen.push(`${p.name}:${p.ok}`), 0);
  await runner.run("load_config", () => {
    now += 12;
    return Promise.resolve({ value: 1, detail: "read" });
  });
  await runner.run("identity", () => Promise.resolve({ value: 0, detail: "skipped" }));
  const failed = await runner.run("pull_config", () => {
    now += 30;
    return Promise.reject(new Error("no journal"));
  }).catch((err) => err);
  assert.ok(failed instanceof BootFailed);
  assert.equal(failed.phase, "pull_config");
  assert.equal(failed.message, "Boot failed in phase pull_config: no journal");
  assert.deepEqual(failed.record.phases.map((p) => [p.name, p.durationMs, p.ok]), [
    ["load_config", 12, true],
    ["identity", 0, true],
    ["pull_config", 30, false],
  ]);
  assert.equal(failed.record.totalMs, 142, "total counts from the agent's start");
  assert.deepEqual(seen, ["load_config:true", "identity:true", "pull_config:false"]);
});

Deno.test("PhaseRunner refuses a phase out of order", async () => {
  const runner = new PhaseRunner(() => 0, () => {});
  await assert.rejects(
    runner.run("apply_config", () => Promise.resolve({ value: 0, detail: "" })),
    /Boot phase apply_config out of order: expected load_config/,
  );
});
