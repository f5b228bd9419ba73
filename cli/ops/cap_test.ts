import assert from "node:assert/strict";
import type { CapabilityReport, GpuCapability } from "../../agent/capability/report_types.ts";
import { fetchCapability, gpuSummary } from "./cap.ts";

const gpu = (index: number, health: GpuCapability["health"], detail = ""): GpuCapability => ({
  index,
  device_index: index,
  vendor: "nvidia",
  model: "NVIDIA A100",
  memory_bytes: 80 * 1024 ** 3,
  health,
  health_detail: detail,
  pci_bus_id: "",
});

Deno.test("gpuSummary() groups GPUs by model and health as the seeds show", () => {
  assert.equal(
    gpuSummary([
      gpu(0, "healthy"),
      gpu(1, "healthy"),
      gpu(2, "healthy"),
      gpu(3, "degraded", "ECC uncorrectable: 12"),
    ]),
    "3x A100 (healthy), 1x A100 (DEGRADED - ECC uncorrectable: 12)",
  );
  assert.equal(gpuSummary([]), "none");
  assert.equal(gpuSummary([gpu(0, "failed", "GPU is lost")]), "1x A100 (FAILED - GPU is lost)");
});

Deno.test("fetchCapability() refuses an answer that is no report", async () => {
  await assert.rejects(
    () => fetchCapability({ getCapability: () => Promise.resolve({ reportJson: "{}" }) }, "n1"),
    /Cannot read the capability report of node n1/,
  );
  const report = {
    node_id: "n1",
    cpu: {},
    memory: {},
    gpus: [],
    network: [],
    storage: {},
    software: {},
  };
  const got = await fetchCapability(
    { getCapability: () => Promise.resolve({ reportJson: JSON.stringify(report) }) },
    "n1",
  );
  assert.equal((got as CapabilityReport).node_id, "n1");
});
