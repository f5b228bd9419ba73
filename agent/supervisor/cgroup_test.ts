import assert from "node:assert/strict";
import { isPactError } from "../../shared/errors/mod.ts";
import { CgroupV2 } from "./cgroup.ts";

// Every test runs against a temporary directory, never /sys/fs/cgroup.
async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "pact-cgroup-" });
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("CgroupV2.ensureHierarchy() creates the pact and workload slices with controllers", () =>
  withRoot(async (root) => {
    const cgroups = new CgroupV2(root);
    await cgroups.ensureHierarchy();
    await cgroups.ensureHierarchy(); // idempotent
    for (const slice of ["pact.slice/infra.slice", "pact.slice/gpu.slice", "workload.slice"]) {
      assert.ok((await Deno.stat(`${root}/${slice}`)).isDirectory, slice);
    }
    assert.equal(
      await Deno.readTextFile(`${root}/cgroup.subtree_control`),
      "+memory +cpu +io +pids\n",
    );
    assert.equal(
      await Deno.readTextFile(`${root}/pact.slice/cgroup.subtree_control`),
      "+memory +cpu +io +pids\n",
    );
  }));

Deno.test("CgroupV2.createScope() writes memory.max, cpu.weight and cgroup.procs", () =>
  withRoot(async (root) => {
    const cgroups = new CgroupV2(root);
    const scope = await cgroups.createScope("pact.slice/gpu.slice", "nvidia-persistenced", {
      memoryMaxBytes: 512 * 1024 * 1024,
      cpuWeight: 300,
    });
    assert.equal(scope.path, `${root}/pact.slice/gpu.slice/nvidia-persistenced.scope`);
    assert.equal(await Deno.readTextFile(`${scope.path}/memory.max`), "536870912\n");
    assert.equal(await Deno.readTextFile(`${scope.path}/cpu.weight`), "300\n");
    await cgroups.addProcess(scope, 4242);
    assert.equal(await Deno.readTextFile(`${scope.path}/cgroup.procs`), "4242\n");
    const unlimited = await cgroups.createScope("pact.slice/infra.slice", "chronyd", {
      memoryMaxBytes: undefined,
      cpuWeight: 100,
    });
    assert.equal(await Deno.readTextFile(`${unlimited.path}/memory.max`), "max\n");
    await cgroups.releaseScope(scope);
    await assert.rejects(Deno.stat(scope.path), Deno.errors.NotFound);
  }));

Deno.test("CgroupV2.createScope() refuses workload.slice, which lattice owns", () =>
  withRoot(async (root) => {
    const cgroups = new CgroupV2(root);
    await assert.rejects(
      cgroups.createScope("workload.slice", "job", { memoryMaxBytes: undefined, cpuWeight: 100 }),
      (err) =>
        isPactError(err, "PERMISSION_DENIED") &&
        /workload\.slice belongs to lattice/.test(err.message),
    );
    await assert.rejects(Deno.stat(`${root}/workload.slice/job.scope`), Deno.errors.NotFound);
  }));
