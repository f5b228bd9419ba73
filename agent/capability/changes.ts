/**
 * What differs between two consecutive detections, as CapabilityChange keys
 * (reference §2.16): `capability.cpu.*`, `gpu.<idx>.*`, `capability.memory.*`,
 * `capability.network.<iface>.*` and `capability.storage.*`. Volatile values
 * (available memory, free space, uptimes) are not changes; a mount's
 * capacity is one only when it moves by more than CAPACITY_CHANGE_RATIO.
 */
import type { Detection } from "./report_types.ts";

/** One changed key with its previous and current value, as text. */
export interface CapabilityChange {
  readonly key: string;
  readonly previous: string;
  readonly current: string;
}

/** Relative change of a mount's total size that counts as a change. */
export const CAPACITY_CHANGE_RATIO = 0.1;

/** The changes from `before` to `after`, in a stable order. */
export function capabilityChanges(before: Detection, after: Detection): CapabilityChange[] {
  const changes: CapabilityChange[] = [];
  const compare = (key: string, a: unknown, b: unknown) => {
    const previous = text(a);
    const current = text(b);
    if (previous !== current) changes.push({ key, previous, current });
  };
  compare("capability.cpu.architecture", before.cpu.architecture, after.cpu.architecture);
  compare("capability.cpu.cores", before.cpu.logical_cores, after.cpu.logical_cores);
  compare("capability.cpu.physical_cores", before.cpu.physical_cores, after.cpu.physical_cores);
  compare("capability.cpu.features", before.cpu.features.length, after.cpu.features.length);

  compare("gpu.count", before.gpus.length, after.gpus.length);
  const gpuCount = Math.max(before.gpus.length, after.gpus.length);
  for (let i = 0; i < gpuCount; i++) {
    const a = before.gpus[i];
    const b = after.gpus[i];
    compare(`gpu.${i}.model`, a?.model, b?.model);
    // The health state is the change; its detail (an ECC count that grows) only explains it.
    if (a?.health !== b?.health) {
      changes.push({
        key: `gpu.${i}.health`,
        previous: a ? healthText(a) : "none",
        current: b ? healthText(b) : "none",
      });
    }
    compare(`gpu.${i}.memory`, a?.memory_bytes, b?.memory_bytes);
  }

  compare("capability.memory.total", before.memory.total_bytes, after.memory.total_bytes);
  compare("capability.memory.type", before.memory.memory_type, after.memory.memory_type);
  compare("capability.memory.numa", before.memory.numa_nodes, after.memory.numa_nodes);
  compare(
    "capability.memory.hugepages",
    hugepageText(before),
    hugepageText(after),
  );

  compare("capability.network.count", before.network.length, after.network.length);
  const names = [...new Set([...before.network, ...after.network].map((n) => n.name))].sort();
  for (const name of names) {
    const a = before.network.find((n) => n.name === name);
    const b = after.network.find((n) => n.name === name);
    compare(`capability.network.${name}.state`, a?.state, b?.state);
    compare(`capability.network.${name}.speed`, a?.speed_mbps, b?.speed_mbps);
  }

  compare("capability.storage.node_type", before.storage.node_type, after.storage.node_type);
  compare(
    "capability.storage.disk_count",
    before.storage.local_disks.length,
    after.storage.local_disks.length,
  );
  compare(
    "capability.storage.mount_count",
    before.storage.mounts.length,
    after.storage.mounts.length,
  );
  for (const b of after.storage.mounts) {
    const a = before.storage.mounts.find((m) => m.path === b.path);
    if (a === undefined) continue;
    const base = Math.max(a.total_bytes, 1);
    if (Math.abs(b.total_bytes - a.total_bytes) / base > CAPACITY_CHANGE_RATIO) {
      compare(`capability.storage.mount.${b.path}.capacity`, a.total_bytes, b.total_bytes);
    }
  }
  return changes;
}

function healthText(gpu: Detection["gpus"][number]): string {
  return gpu.health_detail === "" ? gpu.health : `${gpu.health} (${gpu.health_detail})`;
}

function hugepageText(d: Detection): string {
  const h = d.memory.hugepages;
  return `2M:${h.size_2mb_total} 1G:${h.size_1gb_total}`;
}

function text(value: unknown): string {
  return value === undefined || value === null ? "none" : String(value);
}
