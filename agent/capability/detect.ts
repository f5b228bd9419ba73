/**
 * One detection round over every category. When a vendor's GPU tool fails
 * as a whole (the driver crashed, the tool hangs) the GPUs it listed last
 * time stay in the report as Failed with the tool's error, rather than
 * vanishing as if the node never had them.
 */
import { detectCpu } from "./cpu.ts";
import { detectGpus } from "./gpu.ts";
import { detectMemory } from "./memory.ts";
import { detectNetwork } from "./network.ts";
import type { Detection, GpuCapability } from "./report_types.ts";
import type { DetectSources } from "./sources.ts";
import { detectStorage, STATVFS_TIMEOUT_MS } from "./storage.ts";

/** Limits of one round (tests shorten them). */
export interface DetectLimits {
  readonly statvfsTimeoutMs: number;
}

/** Detects the node; `previous` is the last round's result, if any. */
export async function detectNode(
  sources: DetectSources,
  previous: Detection | undefined,
  limits: DetectLimits = { statvfsTimeoutMs: STATVFS_TIMEOUT_MS },
): Promise<Detection> {
  const [cpu, gpus, network, storage, modules] = await Promise.all([
    detectCpu(sources),
    detectGpus(sources),
    detectNetwork(sources),
    detectStorage(sources, limits.statvfsTimeoutMs),
    sources.readText("/proc/modules"),
  ]);
  const allCpus = Array.from({ length: cpu.logical_cores }, (_, i) => i);
  const memory = await detectMemory(sources, allCpus);
  return {
    cpu,
    gpus: withFailedVendors(gpus.gpus, gpus.failedVendors, previous?.gpus ?? []),
    memory,
    network,
    storage,
    loaded_modules: (modules ?? "").split("\n").map((line) => line.split(" ")[0] ?? "")
      .filter((name) => name !== ""),
    problems: gpus.problems,
  };
}

function withFailedVendors(
  found: readonly GpuCapability[],
  failed: ReadonlyMap<string, string>,
  previous: readonly GpuCapability[],
): GpuCapability[] {
  if (failed.size === 0) return [...found];
  const carried = previous.filter((gpu) => failed.has(gpu.vendor)).map((gpu) => ({
    ...gpu,
    health: "failed" as const,
    health_detail: failed.get(gpu.vendor)!,
  }));
  return [...found, ...carried].sort((a, b) =>
    a.vendor === b.vendor ? a.device_index - b.device_index : a.vendor === "nvidia" ? -1 : 1
  ).map((gpu, index) => ({ ...gpu, index }));
}
