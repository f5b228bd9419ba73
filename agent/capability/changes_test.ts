import assert from "node:assert/strict";
import { capabilityChanges } from "./changes.ts";
import type { Detection } from "./report_types.ts";

const BASE: Detection = {
  cpu: {
    architecture: "x86_64",
    model: "Xeon",
    physical_cores: 4,
    logical_cores: 8,
    base_frequency_mhz: 2000,
    max_frequency_mhz: 3800,
    features: ["avx2"],
    numa_nodes: 2,
    cache_l3_bytes: 0,
  },
  gpus: [],
  memory: {
    total_bytes: 1000,
    available_bytes: 500,
    memory_type: "ddr5",
    numa_nodes: 2,
    numa_topology: [],
    hugepages: { size_2mb_total: 0, size_2mb_free: 0, size_1gb_total: 0, size_1gb_free: 0 },
  },
  network: [{
    name: "hsn0",
    fabric: "slingshot",
    speed_mbps: 200000,
    state: "up",
    mac: "",
    ipv4: null,
  }],
  storage: {
    node_type: "diskless",
    local_disks: [],
    mounts: [{
      path: "/home",
      fs_type: "nfs",
      source: "n:/h",
      total_bytes: 1000,
      available_bytes: 10,
    }],
  },
  loaded_modules: [],
  problems: [],
};

Deno.test("capabilityChanges() ignores volatile values: available memory and free space", () => {
  const after: Detection = {
    ...BASE,
    memory: { ...BASE.memory, available_bytes: 1 },
    storage: {
      ...BASE.storage,
      mounts: [{ ...BASE.storage.mounts[0]!, available_bytes: 999, total_bytes: 1050 }],
    },
  };
  assert.deepEqual(capabilityChanges(BASE, after), []);
});

Deno.test("capabilityChanges() names memory, NIC, mount and CPU changes with their keys", () => {
  const after: Detection = {
    ...BASE,
    cpu: { ...BASE.cpu, logical_cores: 4 },
    memory: { ...BASE.memory, total_bytes: 900 },
    network: [{ ...BASE.network[0]!, state: "down", speed_mbps: 0 }],
    storage: { ...BASE.storage, mounts: [{ ...BASE.storage.mounts[0]!, total_bytes: 0 }] },
  };
  assert.deepEqual(
    capabilityChanges(BASE, after).map((c) => `${c.key}: ${c.previous} -> ${c.current}`),
    [
      "capability.cpu.cores: 8 -> 4",
      "capability.memory.total: 1000 -> 900",
      "capability.network.hsn0.state: up -> down",
      "capability.network.hsn0.speed: 200000 -> 0",
      "capability.storage.mount./home.capacity: 1000 -> 0",
    ],
  );
});

Deno.test("capabilityChanges() reports a GPU that appears as gpu.count and its keys", () => {
  const gpu = {
    index: 0,
    device_index: 0,
    vendor: "nvidia" as const,
    model: "A100",
    memory_bytes: 1,
    health: "healthy" as const,
    health_detail: "",
    pci_bus_id: "",
  };
  const keys = capabilityChanges(BASE, { ...BASE, gpus: [gpu] }).map((c) => c.key);
  assert.deepEqual(keys, ["gpu.count", "gpu.0.model", "gpu.0.health", "gpu.0.memory"]);
});
