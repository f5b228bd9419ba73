/**
 * CPU detection (reference §2.16): `/proc/cpuinfo` for architecture, model,
 * logical cores and ISA flags; sysfs for topology (physical cores), cpufreq
 * (base/max MHz), NUMA node count and L3 size. What cannot be read stays
 * `unknown` / 0 (F37, CAP1): the architecture is never guessed.
 */
import type { CpuArchitecture, CpuCapability } from "./report_types.ts";
import type { DetectSources } from "./sources.ts";

const CPU_DIR = "/sys/devices/system/cpu";
const NODE_DIR = "/sys/devices/system/node";
/** Bound on the CPUs whose sysfs directories are read (topology, caches). */
const CPUS_MAX = 4096;

/** One `processor` block of /proc/cpuinfo as key → value. */
export type CpuinfoBlock = ReadonlyMap<string, string>;

/** Splits /proc/cpuinfo into processor blocks (and a trailing global block on arm). */
export function parseCpuinfo(text: string): CpuinfoBlock[] {
  return text.split(/\n\s*\n/).map((block) => {
    const fields = new Map<string, string>();
    for (const line of block.split("\n")) {
      const colon = line.indexOf(":");
      if (colon < 0) continue;
      fields.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    return fields;
  }).filter((fields) => fields.size > 0);
}

/** The architecture the cpuinfo blocks show: x86 lists `flags`, arm64 `Features`/`CPU architecture: 8`. */
export function architectureOf(blocks: readonly CpuinfoBlock[]): CpuArchitecture {
  const first = blocks.find((b) => b.has("processor"));
  if (first === undefined) return "unknown";
  if (first.has("vendor_id") && first.has("flags")) return "x86_64";
  const armArch = first.get("CPU architecture");
  if (armArch !== undefined && Number(armArch) >= 8) return "aarch64";
  return "unknown";
}

const ARM_IMPLEMENTERS: Readonly<Record<string, string>> = {
  "0x41": "ARM",
  "0x46": "Fujitsu",
  "0x48": "HiSilicon",
  "0x4e": "NVIDIA",
  "0x51": "Qualcomm",
  "0x61": "Apple",
  "0xc0": "Ampere",
};

/** Model string: x86 `model name`; arm has none, so implementer and part. */
function modelOf(blocks: readonly CpuinfoBlock[]): string {
  const first = blocks.find((b) => b.has("processor"));
  if (first === undefined) return "unknown";
  const name = first.get("model name") ?? blocks.find((b) => b.has("Hardware"))?.get("Hardware");
  if (name) return name;
  const implementer = first.get("CPU implementer");
  const part = first.get("CPU part");
  if (implementer === undefined) return "unknown";
  return `${ARM_IMPLEMENTERS[implementer] ?? implementer} part ${part ?? "?"}`;
}

/** Expands a kernel CPU list like `0-27,112-139` to CPU ids (bounded by CPUS_MAX ids). */
export function expandCpuList(text: string): number[] {
  const ids: number[] = [];
  for (const part of text.trim().split(",")) {
    if (part === "") continue;
    const [from, to] = part.split("-").map(Number);
    if (!Number.isInteger(from)) continue;
    const last = Number.isInteger(to) ? to! : from!;
    for (let id = from!; id <= last && ids.length < CPUS_MAX; id++) ids.push(id);
  }
  return ids;
}

/** Parses a sysfs cache size such as `32768K` or `64M` to bytes. */
export function parseCacheSize(text: string): number {
  const match = /^(\d+)\s*([KMG]?)/i.exec(text.trim());
  if (!match) return 0;
  const unit = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[match[2]!.toUpperCase()] ?? 1;
  return Number(match[1]) * unit;
}

/** The `node<N>` directories of the NUMA sysfs tree. */
export async function numaNodeDirs(sources: DetectSources): Promise<string[]> {
  return ((await sources.listDir(NODE_DIR)) ?? []).filter((name) => /^node\d+$/.test(name));
}

/** Detects the CPU. */
export async function detectCpu(sources: DetectSources): Promise<CpuCapability> {
  const text = await sources.readText("/proc/cpuinfo");
  const blocks = text === undefined ? [] : parseCpuinfo(text);
  const processors = blocks.filter((b) => b.has("processor"));
  const architecture = architectureOf(blocks);
  const first = processors[0];
  const features = (first?.get("flags") ?? first?.get("Features") ?? "").split(/\s+/).filter((
    f,
  ) => f !== "");
  const cpuDirs = ((await sources.listDir(CPU_DIR)) ?? []).filter((n) => /^cpu\d+$/.test(n))
    .slice(0, CPUS_MAX);
  const logical = processors.length || cpuDirs.length;
  const numa = (await numaNodeDirs(sources)).length;
  return {
    architecture,
    model: modelOf(blocks),
    physical_cores: await physicalCores(sources, cpuDirs, processors) || logical,
    logical_cores: logical,
    base_frequency_mhz: await baseMhz(sources, first),
    max_frequency_mhz: await khzFile(sources, `${CPU_DIR}/cpu0/cpufreq/cpuinfo_max_freq`),
    features,
    numa_nodes: logical === 0 ? 0 : Math.max(1, numa),
    cache_l3_bytes: await l3Bytes(sources, cpuDirs, processors),
  };
}

/** Distinct (package, core) pairs from sysfs topology, else from cpuinfo; 0 when neither says. */
async function physicalCores(
  sources: DetectSources,
  cpuDirs: readonly string[],
  processors: readonly CpuinfoBlock[],
): Promise<number> {
  const cores = new Set<string>();
  for (const cpu of cpuDirs) {
    const core = await sources.readText(`${CPU_DIR}/${cpu}/topology/core_id`);
    const pkg = await sources.readText(`${CPU_DIR}/${cpu}/topology/physical_package_id`);
    if (core !== undefined) cores.add(`${pkg?.trim() ?? "0"}/${core.trim()}`);
  }
  if (cores.size > 0) return cores.size;
  for (const p of processors) {
    const core = p.get("core id");
    if (core !== undefined) cores.add(`${p.get("physical id") ?? "0"}/${core}`);
  }
  return cores.size;
}

async function khzFile(sources: DetectSources, path: string): Promise<number> {
  const khz = Number((await sources.readText(path))?.trim());
  return Number.isFinite(khz) && khz > 0 ? Math.round(khz / 1000) : 0;
}

/** cpufreq's base_frequency, else the `@ 2.10GHz` of the model name, else 0. */
async function baseMhz(sources: DetectSources, first: CpuinfoBlock | undefined): Promise<number> {
  const base = await khzFile(sources, `${CPU_DIR}/cpu0/cpufreq/base_frequency`);
  if (base > 0) return base;
  const ghz = /@\s*([\d.]+)\s*GHz/i.exec(first?.get("model name") ?? "")?.[1];
  return ghz === undefined ? 0 : Math.round(Number(ghz) * 1000);
}

/**
 * Total L3: each distinct level-3 cache in sysfs (by its shared CPU list)
 * counted once; without sysfs, cpuinfo's per-socket `cache size` × sockets.
 */
async function l3Bytes(
  sources: DetectSources,
  cpuDirs: readonly string[],
  processors: readonly CpuinfoBlock[],
): Promise<number> {
  const seen = new Map<string, number>();
  const covered = new Set<number>();
  for (const cpu of cpuDirs) {
    // A CPU inside an L3 already counted shares it: no need to read its caches.
    if (covered.has(Number(cpu.slice(3)))) continue;
    const dir = `${CPU_DIR}/${cpu}/cache`;
    for (const index of (await sources.listDir(dir)) ?? []) {
      if (!/^index\d+$/.test(index)) continue;
      if ((await sources.readText(`${dir}/${index}/level`))?.trim() !== "3") continue;
      const shared = (await sources.readText(`${dir}/${index}/shared_cpu_list`))?.trim() ?? cpu;
      if (seen.has(shared)) continue;
      expandCpuList(shared).forEach((id) => covered.add(id));
      seen.set(shared, parseCacheSize((await sources.readText(`${dir}/${index}/size`)) ?? ""));
    }
  }
  if (seen.size > 0) return [...seen.values()].reduce((a, b) => a + b, 0);
  const perSocket = parseCacheSize(processors[0]?.get("cache size") ?? "");
  const sockets = new Set(processors.map((p) => p.get("physical id") ?? "0")).size;
  return perSocket * sockets;
}
