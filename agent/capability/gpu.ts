/**
 * GPU detection (reference §2.16): NVIDIA through `nvidia-smi --query-gpu`
 * (CSV, MiB → bytes) and AMD through `rocm-smi --csv`; a missing tool means
 * no GPUs of that vendor, and both vendors may be present on one node.
 * Health: Failed when the tool reports an error for that GPU (lost, needs a
 * reset, unknown error), Degraded on uncorrectable ECC errors or hardware
 * thermal slowdown, Healthy otherwise.
 */
import type { GpuCapability, GpuHealth, GpuVendor } from "./report_types.ts";
import type { DetectSources } from "./sources.ts";

/** How long a vendor tool may take (nvidia-smi is slow on nodes with many GPUs). */
export const GPU_TOOL_TIMEOUT_MS = 10_000;

/** The nvidia-smi fields queried, in order. */
export const NVIDIA_FIELDS = [
  "index",
  "name",
  "memory.total",
  "pci.bus_id",
  "ecc.errors.uncorrected.volatile.total",
  "clocks_throttle_reasons.hw_thermal_slowdown",
] as const;

export const NVIDIA_ARGS = [
  `--query-gpu=${NVIDIA_FIELDS.join(",")}`,
  "--format=csv,noheader,nounits",
] as const;

export const ROCM_ARGS = [
  "--showid",
  "--showproductname",
  "--showmeminfo",
  "vram",
  "--showbus",
  "--csv",
] as const;

/** A GPU before it gets its node-wide index. */
export type VendorGpu = Omit<GpuCapability, "index">;

/** What the GPU tools gave: GPUs, and the vendors whose tool ran but failed as a whole. */
export interface GpuDetection {
  readonly gpus: readonly GpuCapability[];
  readonly failedVendors: ReadonlyMap<GpuVendor, string>;
  readonly problems: readonly string[];
}

const FAILURE_TEXT = /GPU is lost|requires reset|Unknown Error|Unable to determine/i;

/** Health of one GPU from the tool's error text, ECC count and thermal slowdown. */
export function gpuHealth(
  fields: readonly string[],
  eccUncorrectable: number,
  thermalSlowdown: boolean,
): { health: GpuHealth; detail: string } {
  const failure = fields.find((f) => FAILURE_TEXT.test(f));
  if (failure !== undefined) return { health: "failed", detail: failure.replace(/^\[|\]$/g, "") };
  if (eccUncorrectable > 0) {
    return { health: "degraded", detail: `ECC uncorrectable: ${eccUncorrectable}` };
  }
  if (thermalSlowdown) return { health: "degraded", detail: "thermal throttle" };
  return { health: "healthy", detail: "" };
}

/** Parses nvidia-smi's CSV (the NVIDIA_FIELDS order, no header, no units). */
export function parseNvidiaSmi(stdout: string): VendorGpu[] {
  const gpus: VendorGpu[] = [];
  for (const line of stdout.split("\n")) {
    const fields = line.split(",").map((f) => f.trim());
    if (fields.length < 4) continue;
    const index = Number(fields[0]);
    if (!Number.isInteger(index)) continue;
    const mib = Number(fields[2]);
    const ecc = Number(fields[4]);
    const { health, detail } = gpuHealth(
      fields,
      Number.isFinite(ecc) ? ecc : 0,
      fields[5] === "Active",
    );
    gpus.push({
      device_index: index,
      vendor: "nvidia",
      model: fields[1] ?? "",
      memory_bytes: Number.isFinite(mib) ? mib * 1024 * 1024 : 0,
      health,
      health_detail: detail,
      pci_bus_id: fields[3] ?? "",
    });
  }
  return gpus;
}

/** Splits one CSV line, honouring double quotes (rocm-smi quotes names with commas). */
function csvFields(line: string): string[] {
  const fields: string[] = [];
  let current = "";
  let quoted = false;
  for (const char of line) {
    if (char === '"') quoted = !quoted;
    else if (char === "," && !quoted) {
      fields.push(current.trim());
      current = "";
    } else current += char;
  }
  fields.push(current.trim());
  return fields;
}

/** Parses `rocm-smi --showid --showproductname --showmeminfo vram --showbus --csv`. */
export function parseRocmSmi(stdout: string): VendorGpu[] {
  const lines = stdout.split("\n").map((l) => l.trim());
  const start = lines.findIndex((l) => /^device,/i.test(l));
  if (start < 0) return [];
  const header = csvFields(lines[start]!).map((h) => h.toLowerCase());
  const column = (...names: string[]) => {
    for (const name of names) {
      const at = header.findIndex((h) => h.startsWith(name));
      if (at >= 0) return at;
    }
    return -1;
  };
  const model = column("card series", "card model", "card sku");
  const memory = column("vram total memory");
  const bus = column("pci bus");
  const gpus: VendorGpu[] = [];
  for (const line of lines.slice(start + 1)) {
    const fields = csvFields(line);
    const card = /^card(\d+)$/.exec(fields[0] ?? "");
    if (!card) continue;
    const bytes = Number(fields[memory] ?? "");
    const { health, detail } = gpuHealth(fields, 0, false);
    gpus.push({
      device_index: Number(card[1]),
      vendor: "amd",
      model: fields[model] ?? "",
      memory_bytes: Number.isFinite(bytes) ? bytes : 0,
      health,
      health_detail: detail,
      pci_bus_id: fields[bus] ?? "",
    });
  }
  return gpus;
}

/** Runs both vendor tools; NVIDIA GPUs come first in the node-wide index. */
export async function detectGpus(sources: DetectSources): Promise<GpuDetection> {
  const failedVendors = new Map<GpuVendor, string>();
  const problems: string[] = [];
  const run = async (
    vendor: GpuVendor,
    tool: "nvidia-smi" | "rocm-smi",
    args: readonly string[],
    parse: (stdout: string) => VendorGpu[],
  ): Promise<VendorGpu[]> => {
    const result = await sources.run(tool, args, GPU_TOOL_TIMEOUT_MS);
    if (result.missing) return [];
    const gpus = parse(result.stdout);
    if (gpus.length === 0 && (result.code !== 0 || result.timedOut)) {
      const why = result.timedOut
        ? `${tool} did not answer within ${GPU_TOOL_TIMEOUT_MS} ms`
        : `${tool} exited ${result.code}: ${firstLine(result.stderr || result.stdout)}`;
      failedVendors.set(vendor, why);
      problems.push(why);
    }
    return gpus;
  };
  const [nvidia, amd] = await Promise.all([
    run("nvidia", "nvidia-smi", NVIDIA_ARGS, parseNvidiaSmi),
    run("amd", "rocm-smi", ROCM_ARGS, parseRocmSmi),
  ]);
  const gpus = [...nvidia, ...amd].map((gpu, index) => ({ index, ...gpu }));
  return { gpus, failedVendors, problems };
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0]?.slice(0, 200) || "no output";
}
