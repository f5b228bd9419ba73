/**
 * Memory detection (reference §2.16): MemTotal exactly as /proc/meminfo
 * says (CAP2), MemAvailable, 2 MiB hugepages from meminfo (or sysfs), 1 GiB
 * hugepages from sysfs, NUMA nodes from sysfs (`node<N>/meminfo` and
 * `cpulist`), and the memory type from `dmidecode --type 17` (2 s limit).
 * Without NUMA information the node is one NUMA node holding everything (F38).
 */
import { expandCpuList, numaNodeDirs } from "./cpu.ts";
import type { Hugepages, MemoryCapability, MemoryType, NumaNode } from "./report_types.ts";
import type { DetectSources } from "./sources.ts";

/** How long dmidecode may take. */
export const DMIDECODE_TIMEOUT_MS = 2_000;
const HUGEPAGES_DIR = "/sys/kernel/mm/hugepages";

/** `Key: value kB` lines of a meminfo file as key → bytes (`HugePages_*` stay page counts). */
export function parseMeminfo(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    // Per-node files prefix each line with `Node <N> `.
    const match = /^(?:Node\s+\d+\s+)?([\w()]+):\s+(\d+)(\s*kB)?/.exec(line.trim());
    if (!match) continue;
    values.set(match[1]!, Number(match[2]) * (match[3] ? 1024 : 1));
  }
  return values;
}

/** The first memory type dmidecode names for a populated slot; unknown otherwise. */
export function parseMemoryType(dmidecode: string): MemoryType {
  const known: readonly [RegExp, MemoryType][] = [
    [/^HBM3e$/i, "hbm3e"],
    [/^HBM3$/i, "hbm3"],
    [/^HBM2e?$/i, "hbm2e"],
    [/^DDR5$/i, "ddr5"],
    [/^DDR4$/i, "ddr4"],
  ];
  for (const match of dmidecode.matchAll(/^\s*Type:\s*(\S+)\s*$/gm)) {
    const found = known.find(([pattern]) => pattern.test(match[1]!));
    if (found) return found[1];
  }
  return "unknown";
}

/** Detects memory; `cpuIds` are all CPUs, for the single-node fallback. */
export async function detectMemory(
  sources: DetectSources,
  cpuIds: readonly number[],
): Promise<MemoryCapability> {
  const meminfo = parseMeminfo((await sources.readText("/proc/meminfo")) ?? "");
  const total = meminfo.get("MemTotal") ?? 0;
  const topology = await numaTopology(sources);
  const numa = topology.length > 0 ? topology : [{ id: 0, total_bytes: total, cpus: [...cpuIds] }];
  return {
    total_bytes: total,
    available_bytes: meminfo.get("MemAvailable") ?? 0,
    memory_type: await memoryType(sources),
    numa_nodes: numa.length,
    numa_topology: numa,
    hugepages: await hugepages(sources, meminfo),
  };
}

async function numaTopology(sources: DetectSources): Promise<NumaNode[]> {
  const nodes: NumaNode[] = [];
  for (const dir of await numaNodeDirs(sources)) {
    const base = `/sys/devices/system/node/${dir}`;
    const meminfo = parseMeminfo((await sources.readText(`${base}/meminfo`)) ?? "");
    nodes.push({
      id: Number(dir.slice(4)),
      total_bytes: meminfo.get("MemTotal") ?? 0,
      cpus: expandCpuList((await sources.readText(`${base}/cpulist`)) ?? ""),
    });
  }
  return nodes.sort((a, b) => a.id - b.id);
}

async function hugepages(
  sources: DetectSources,
  meminfo: ReadonlyMap<string, number>,
): Promise<Hugepages> {
  const count = async (size: string, file: string) => {
    const n = Number(
      (await sources.readText(`${HUGEPAGES_DIR}/hugepages-${size}/${file}`))?.trim(),
    );
    return Number.isInteger(n) ? n : undefined;
  };
  // meminfo's HugePages_* lines count pages of the default size only.
  const defaultIs2m = meminfo.get("Hugepagesize") === 2048 * 1024;
  return {
    size_2mb_total: await count("2048kB", "nr_hugepages") ??
      (defaultIs2m ? meminfo.get("HugePages_Total") ?? 0 : 0),
    size_2mb_free: await count("2048kB", "free_hugepages") ??
      (defaultIs2m ? meminfo.get("HugePages_Free") ?? 0 : 0),
    size_1gb_total: await count("1048576kB", "nr_hugepages") ?? 0,
    size_1gb_free: await count("1048576kB", "free_hugepages") ?? 0,
  };
}

async function memoryType(sources: DetectSources): Promise<MemoryType> {
  const result = await sources.run("dmidecode", ["--type", "17"], DMIDECODE_TIMEOUT_MS);
  if (result.missing || result.timedOut || result.code !== 0) return "unknown";
  return parseMemoryType(result.stdout);
}
