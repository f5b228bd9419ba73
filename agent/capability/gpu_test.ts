import assert from "node:assert/strict";
import { fakeTool, FOUR_A100 } from "./_fixtures.ts";
import { detectNode } from "./detect.ts";
import { detectGpus, parseNvidiaSmi, parseRocmSmi } from "./gpu.ts";
import { rootedSources } from "./sources.ts";

const ROCM_CSV = [
  "WARNING: Unlocked monitor_devices lock; it should have been locked",
  "device,GPU ID,Card series,Card model,Card vendor,Card SKU,VRAM Total Memory (B),VRAM Total Used Memory (B),PCI Bus",
  'card0,0x740f,AMD Instinct MI210,0x0c34,"Advanced Micro Devices, Inc. [AMD/ATI]",D67301,68702699520,10960896,0000:C1:00.0',
  "",
].join("\n");

const sourcesAt = (root: string) =>
  rootedSources({
    root,
    tools: {
      "nvidia-smi": `${root}/usr/bin/nvidia-smi`,
      "rocm-smi": `${root}/usr/bin/rocm-smi`,
    },
  });

async function withRoot(body: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "pact-cap-gpu-" });
  try {
    await body(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("parseNvidiaSmi() converts MiB to bytes and reads ECC, thermal and error fields as health", () => {
  const gpus = parseNvidiaSmi(
    FOUR_A100 +
      "4, NVIDIA H100 80GB HBM3, 81559, 00000000:9A:00.0, 0, Active\n" +
      "5, NVIDIA H100 80GB HBM3, [N/A], 00000000:9B:00.0, [GPU requires reset], [GPU requires reset]\n",
  );
  assert.equal(gpus.length, 6);
  assert.equal(gpus[0]!.memory_bytes, 81920 * 1024 * 1024);
  assert.equal(gpus[0]!.pci_bus_id, "00000000:07:00.0");
  assert.deepEqual(gpus.map((g) => [g.device_index, g.health, g.health_detail]), [
    [0, "healthy", ""],
    [1, "healthy", ""],
    [2, "healthy", ""],
    [3, "degraded", "ECC uncorrectable: 12"],
    [4, "degraded", "thermal throttle"],
    [5, "failed", "GPU requires reset"],
  ]);
  assert.equal(gpus[5]!.memory_bytes, 0);
});

Deno.test("parseRocmSmi() finds the header after warnings and reads quoted fields", () => {
  const [gpu] = parseRocmSmi(ROCM_CSV);
  assert.deepEqual(gpu, {
    device_index: 0,
    vendor: "amd",
    model: "AMD Instinct MI210",
    memory_bytes: 68702699520,
    health: "healthy",
    health_detail: "",
    pci_bus_id: "0000:C1:00.0",
  });
});

Deno.test("detectGpus() runs both vendor tools: NVIDIA first, then AMD, one node-wide index", async () => {
  await withRoot(async (root) => {
    await fakeTool(root, "nvidia-smi", FOUR_A100);
    await fakeTool(root, "rocm-smi", ROCM_CSV);
    const { gpus, failedVendors } = await detectGpus(sourcesAt(root));
    assert.deepEqual(
      gpus.map((g) => [g.index, g.vendor, g.device_index, g.model, g.health]),
      [
        [0, "nvidia", 0, "NVIDIA A100-SXM4-80GB", "healthy"],
        [1, "nvidia", 1, "NVIDIA A100-SXM4-80GB", "healthy"],
        [2, "nvidia", 2, "NVIDIA A100-SXM4-80GB", "healthy"],
        [3, "nvidia", 3, "NVIDIA A100-SXM4-80GB", "degraded"],
        [4, "amd", 0, "AMD Instinct MI210", "healthy"],
      ],
    );
    assert.equal(failedVendors.size, 0);
  });
});

Deno.test("detectGpus() without the tools reports no GPUs", async () => {
  await withRoot(async (root) => {
    const { gpus, problems } = await detectGpus(sourcesAt(root));
    assert.deepEqual(gpus, []);
    assert.deepEqual(problems, []);
  });
});

Deno.test("detectNode() keeps the GPUs of a vendor whose tool now fails, as failed with its error", async () => {
  await withRoot(async (root) => {
    await fakeTool(root, "nvidia-smi", FOUR_A100);
    const first = await detectNode(sourcesAt(root), undefined, { statvfsTimeoutMs: 500 });
    assert.equal(first.gpus.length, 4);
    await fakeTool(
      root,
      "nvidia-smi",
      "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n",
    );
    await Deno.writeTextFile(`${root}/fake/nvidia-smi.code`, "9");
    const second = await detectNode(sourcesAt(root), first, { statvfsTimeoutMs: 500 });
    assert.deepEqual(second.gpus.map((g) => [g.index, g.health]), [
      [0, "failed"],
      [1, "failed"],
      [2, "failed"],
      [3, "failed"],
    ]);
    assert.match(second.gpus[0]!.health_detail, /nvidia-smi exited 9: NVIDIA-SMI has failed/);
    assert.equal(second.problems.length, 1);
  });
});
