import assert from "node:assert/strict";
import { parseApplySpec } from "./apply_spec.ts";

const GOOD = `
[vcluster.ml-training]
base_image = "alps-ml-2026q1"

[vcluster.ml-training.sysctl]
"vm.nr_hugepages" = "1024"
"kernel.pid_max" = 4194304

[vcluster.ml-training.modules]
load = ["nvidia"]

[vcluster.ml-training.mounts]
"/local-scratch" = { type = "nfs", source = "storage03:/scratch", read_only = true }

[vcluster.ml-training.files."/etc/motd"]
content_hash = "sha256:abc"
mode = "0644"
owner = "root"

[[vcluster.ml-training.services]]
name = "chronyd"
binary = "/usr/sbin/chronyd"
restart = "on_failure"
depends_on = ["network"]
cgroup_memory_max = "64M"
health_check = { type = "process", interval_seconds = 30 }
state = "running"

[vcluster.ml-training.network]
ib0 = "10.1.0.5/16"
eth0 = { address = "10.0.0.5/24", gateway = "10.0.0.1", mtu = 9000 }

[vcluster.ml-training.packages]
slurm = "23.11"

[vcluster.ml-training.policy]
enforcement_mode = "enforce"
drift_sensitivity = 5
role_bindings = [{ role = "pact-ops-ml-training", principals = ["a@b"], allowed_actions = ["commit"] }]

[vcluster.hpc.policy]
regulated = true
`;

Deno.test("parseApplySpec() reads every overlay table and the policy of each vCluster", () => {
  const parsed = parseApplySpec(GOOD);
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.problems));
  const [ml, hpc] = parsed.spec.vclusters;
  const d = ml!.declared!;
  assert.deepEqual(d.sysctl, { "vm.nr_hugepages": "1024", "kernel.pid_max": "4194304" });
  assert.deepEqual(d.modules, ["nvidia"]);
  assert.deepEqual(d.mounts[0]!.spec, {
    fsType: "nfs",
    source: "storage03:/scratch",
    options: "",
    readOnly: true,
  });
  assert.equal(d.files[0]!.mode, "0644");
  assert.equal(d.services[0]!.restartPolicy, "on_failure");
  assert.equal(d.services[0]!.healthCheck?.intervalSeconds, 30);
  assert.deepEqual(d.network.map((n) => [n.interface, n.address, n.mtu]), [
    ["ib0", "10.1.0.5/16", 0],
    ["eth0", "10.0.0.5/24", 9000],
  ]);
  assert.equal(d.baseImage, "alps-ml-2026q1");
  assert.equal(ml!.policy?.enforcementMode, "enforce");
  assert.equal(ml!.policy?.driftSensitivity, 5);
  assert.equal(ml!.policy?.roleBindings[0]?.allowedActions[0], "commit");
  assert.equal(ml!.policy?.emergencyAllowed, undefined);
  assert.equal(hpc!.declared, undefined);
  assert.equal(hpc!.policy?.regulated, true);
});

Deno.test("parseApplySpec() reports every problem with its line, in line order", () => {
  const parsed = parseApplySpec(`[vcluster.ml]
colour = "blue"
[vcluster.ml.mounts."scratch"]
type = "nfs"
[vcluster.ml.services.web]
restart_policy = "sometimes"
cgroup_cpu_weight = 0
`);
  assert.ok(!parsed.ok);
  assert.deepEqual(parsed.problems.map((p) => p.line), [2, 3, 3, 6, 7]);
  assert.match(parsed.problems[0]!.message, /unknown key "colour" in vcluster\.ml/);
  assert.match(parsed.problems[1]!.message, /must be an absolute path/);
  assert.match(parsed.problems[2]!.message, /needs a source/);
});

Deno.test("parseApplySpec() turns a TOML syntax error into one line-numbered problem", () => {
  const parsed = parseApplySpec(`[vcluster.ml]\nbase_image = "unterminated\n`);
  assert.ok(!parsed.ok);
  assert.equal(parsed.problems.length, 1);
  assert.equal(parsed.problems[0]!.line, 2);
  assert.match(parsed.problems[0]!.message, /^invalid TOML/);
});

Deno.test("parseApplySpec() refuses a file with nothing to apply", () => {
  for (const text of ["", "[vcluster.ml]\n", "[other]\n"]) {
    const parsed = parseApplySpec(text);
    assert.ok(!parsed.ok, text);
  }
});
