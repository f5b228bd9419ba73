/**
 * A minimal capability report written at boot, until the capability
 * reporter (reference §2.16) exists: CPU count, total memory and the
 * number of NVIDIA GPU device nodes. It is labelled as minimal in the
 * manifest and in the boot record, so nobody mistakes it for the full one.
 */
import type { FilesPort } from "../host/host.ts";

/** The minimal report. */
export interface MinimalCapability {
  readonly schema: "pact.capability.minimal/1";
  readonly node_id: string;
  readonly generated_at: string;
  readonly cpu: { readonly logical_cores: number };
  readonly memory: { readonly total_bytes: number };
  /** NVIDIA device nodes /dev/nvidia<N>; AMD and vendor tools are not probed yet. */
  readonly gpus: { readonly count: number; readonly detected_by: string };
  readonly note: string;
}

/** Where the facts come from: the real /proc and /dev, injectable for tests. */
export interface CapabilitySources {
  readonly cpuCount: () => number;
  readonly readText: (path: string) => Promise<string | undefined>;
  readonly listDir: (path: string) => Promise<string[]>;
}

/** The running machine's /proc and /dev. */
export const realCapabilitySources: CapabilitySources = {
  cpuCount: () => navigator.hardwareConcurrency,
  readText: (path) => Deno.readTextFile(path).catch(() => undefined),
  listDir: async (path) => {
    const names: string[] = [];
    try {
      for await (const entry of Deno.readDir(path)) names.push(entry.name);
    } catch {
      // No such directory: nothing to count.
    }
    return names;
  },
};

/** Builds the minimal report. */
export async function minimalCapability(
  nodeId: string,
  nowMs: number,
  sources: CapabilitySources,
): Promise<MinimalCapability> {
  const meminfo = await sources.readText("/proc/meminfo") ?? "";
  const memKb = Number(/^MemTotal:\s+(\d+)\s+kB/m.exec(meminfo)?.[1] ?? 0);
  const gpus = (await sources.listDir("/dev")).filter((name) => /^nvidia\d+$/.test(name)).length;
  return {
    schema: "pact.capability.minimal/1",
    node_id: nodeId,
    generated_at: new Date(nowMs).toISOString(),
    cpu: { logical_cores: sources.cpuCount() },
    memory: { total_bytes: memKb * 1024 },
    gpus: { count: gpus, detected_by: "/dev/nvidia<N> device nodes" },
    note: "minimal boot report; the full capability reporter is not built yet",
  };
}

/** Writes the report as the manifest (atomically) and returns the phase detail. */
export async function writeCapability(
  files: FilesPort,
  manifestPath: string,
  report: MinimalCapability,
): Promise<string> {
  await files.write(
    manifestPath,
    new TextEncoder().encode(`${JSON.stringify(report, null, 2)}\n`),
    0o644,
  );
  const gib = (report.memory.total_bytes / 1024 ** 3).toFixed(1);
  return `minimal report (placeholder): ${report.cpu.logical_cores} CPUs, ${gib} GiB, ` +
    `${report.gpus.count} GPUs; written to ${manifestPath}`;
}
