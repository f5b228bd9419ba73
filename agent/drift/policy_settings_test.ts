import assert from "node:assert/strict";
import { isPactError } from "../../shared/errors/mod.ts";
import { VClusterPolicy } from "../../shared/proto/gen/pact/config/config.ts";
import { parseAgentConfig } from "../config.ts";
import { windowSeconds } from "./commit_window.ts";
import { magnitude, vectorOf } from "./drift_vector.ts";
import { settingsFromConfig, settingsFromPolicy } from "./policy_settings.ts";

const config = parseAgentConfig(
  `[agent]\nnode_id = "n1"\nenforcement_mode = "observe"\n[agent.commit_window]\nbase_window_seconds = 600\n`,
  "agent.toml",
  {},
  () => undefined,
);

Deno.test("settingsFromConfig() takes agent.toml's mode, window and blacklist", () => {
  const settings = settingsFromConfig(config);
  assert.equal(settings.mode, "observe");
  assert.equal(settings.window.baseWindowSeconds, 600);
  assert.equal(settings.window.driftSensitivity, 2);
  assert.equal(settings.emergencyWindowSeconds, 14_400);
  assert.ok(settings.blacklist.excludes("/tmp/x"));
  assert.equal(settings.weights.kernel, 2);
  assert.equal(settings.emergencyAllowed, true);
});

Deno.test("settingsFromPolicy() lets a regulated vCluster's policy override agent.toml", () => {
  const policy = VClusterPolicy.fromPartial({
    vclusterId: "regulated-bio",
    enforcementMode: "enforce",
    driftSensitivity: 5.0,
    baseCommitWindowSeconds: 300,
    emergencyWindowSeconds: 3600,
    emergencyAllowed: false,
    autoConvergeCategories: ["services", "kernel"],
    requireAckCategories: ["mounts", "network", "gpu"],
    blacklistPatterns: ["/scratch/**"],
    driftWeights: { mounts: 0, files: 3, network: 0, services: 0, kernel: 0, packages: 0, gpu: 0 },
  });
  const settings = settingsFromPolicy(config, policy);
  assert.equal(settings.mode, "enforce");
  assert.equal(settings.emergencyWindowSeconds, 3600);
  assert.equal(settings.emergencyAllowed, false);
  assert.deepEqual([...settings.autoConverge], ["services", "kernel"]);
  assert.deepEqual([...settings.requireAck], ["mounts", "network", "gpu"]);
  assert.ok(settings.blacklist.excludes("/scratch/a"));
  assert.ok(!settings.blacklist.excludes("/tmp/x"), "the policy's list replaces the file's");
  assert.equal(settings.weights.files, 3);
  assert.equal(settings.weights.kernel, 2, "an unset (0) policy weight keeps the default");
  assert.equal(magnitude(vectorOf({ files: 1 }), settings.weights), 3);
  // 300 / (1 + 0.8 * 5) = 60
  assert.equal(windowSeconds(0.8, settings.window), 60);
});

Deno.test("settingsFromPolicy() refuses unknown categories and modes in a policy", () => {
  const bad = (fields: Partial<VClusterPolicy>, pattern: RegExp) =>
    assert.throws(() => settingsFromPolicy(config, VClusterPolicy.fromPartial(fields)), (err) => {
      assert.ok(isPactError(err, "VALIDATION"));
      assert.match(err.message, pattern);
      return true;
    });
  bad(
    { autoConvergeCategories: ["security"] },
    /Invalid auto_converge_categories entry "security"/,
  );
  bad({ requireAckCategories: ["firmware"] }, /Invalid require_ack_categories entry "firmware"/);
  bad({ enforcementMode: "strict" }, /Invalid enforcement_mode "strict" in the vCluster policy/);
});
