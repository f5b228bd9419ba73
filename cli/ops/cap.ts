/**
 * `pact cap`: the node's capability report from its agent (GetCapability),
 * checked once at the edge, and its human summary: GPUs grouped by model and
 * health as the seeds show (`3x A100 (healthy), 1x A100 (DEGRADED - ECC
 * errors)`), then CPU, memory, network, storage and services.
 */
import { PactError } from "../../shared/errors/mod.ts";
import type { CapabilityReport, GpuCapability } from "../../agent/capability/report_types.ts";

/** The agent call `pact cap` makes. */
export interface CapabilityApi {
  getCapability(): Promise<{ reportJson: string }>;
}

/** The report, or INTERNAL when the agent's answer is not one. */
export async function fetchCapability(api: CapabilityApi, node: string): Promise<CapabilityReport> {
  const { reportJson } = await api.getCapability();
  let report: unknown;
  try {
    report = JSON.parse(reportJson);
  } catch {
    report = undefined;
  }
  const r = report as Partial<CapabilityReport> | undefined;
  if (
    typeof r !== "object" || r === null || typeof r.node_id !== "string" || !r.cpu || !r.memory ||
    !Array.isArray(r.gpus) || !Array.isArray(r.network) || !r.storage || !r.software
  ) {
    throw new PactError(
      "INTERNAL",
      `Cannot read the capability report of node ${node}: the agent sent no valid report`,
    );
  }
  return r as CapabilityReport;
}

/** Bytes as GiB/TiB text. */
export function bytesText(bytes: number): string {
  if (bytes >= 1024 ** 4) return `${(bytes / 1024 ** 4).toFixed(1)} TiB`;
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  return `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
}

/** A GPU model without its vendor prefix: `NVIDIA A100` → `A100`. */
function shortModel(model: string): string {
  return model.replace(/^(NVIDIA|AMD)\s+/i, "") || "unknown";
}

function healthLabel(gpu: GpuCapability): string {
  if (gpu.health === "healthy") return "healthy";
  const reason = gpu.health_detail === "" ? "" : ` - ${gpu.health_detail}`;
  return `${gpu.health.toUpperCase()}${reason}`;
}

/** `3x A100 (healthy), 1x A100 (DEGRADED - ECC uncorrectable: 12)`, or `none`. */
export function gpuSummary(gpus: readonly GpuCapability[]): string {
  const groups: { label: string; count: number }[] = [];
  for (const gpu of gpus) {
    const label = `${shortModel(gpu.model)} (${healthLabel(gpu)})`;
    const group = groups.find((g) => g.label === label);
    if (group) group.count++;
    else groups.push({ label, count: 1 });
  }
  return groups.length === 0 ? "none" : groups.map((g) => `${g.count}x ${g.label}`).join(", ");
}

/** The human summary of a report. */
export function renderCapability(r: CapabilityReport): string {
  const lines: string[] = [];
  lines.push(
    `Node ${r.node_id}${r.vcluster ? ` (vcluster ${r.vcluster})` : " (no vcluster)"}: config ${
      r.config_state.toUpperCase() === "COMMITTED" ? "committed" : r.config_state.toUpperCase()
    } (version ${r.config_version}), report ${r.report_id.slice(0, 8)} at ${r.timestamp}`,
  );
  const c = r.cpu;
  const mhz = c.max_frequency_mhz > 0
    ? `, ${c.base_frequency_mhz || "?"}-${c.max_frequency_mhz} MHz`
    : c.base_frequency_mhz > 0
    ? `, ${c.base_frequency_mhz} MHz`
    : "";
  lines.push(
    `  CPU:      ${c.architecture} ${c.model}, ${c.physical_cores} cores / ${c.logical_cores} threads${mhz}, ${c.numa_nodes} NUMA node(s)${
      c.cache_l3_bytes > 0 ? `, L3 ${bytesText(c.cache_l3_bytes)}` : ""
    }`,
  );
  const m = r.memory;
  const h = m.hugepages;
  lines.push(
    `  Memory:   ${bytesText(m.total_bytes)} total, ${
      bytesText(m.available_bytes)
    } available, ${m.memory_type}, ${m.numa_nodes} NUMA node(s); hugepages 2M ${h.size_2mb_total} (${h.size_2mb_free} free), 1G ${h.size_1gb_total} (${h.size_1gb_free} free)`,
  );
  lines.push(`  GPUs:     ${gpuSummary(r.gpus)}`);
  for (const gpu of r.gpus.filter((g) => g.health !== "healthy")) {
    lines.push(
      `    gpu[${gpu.index}]: ${gpu.health.toUpperCase()} (${gpu.health_detail || "no detail"}) ${
        shortModel(gpu.model)
      } ${gpu.vendor} pci ${gpu.pci_bus_id || "?"}`,
    );
  }
  lines.push(
    `  Network:  ${
      r.network.length === 0
        ? "none"
        : r.network.map((n) =>
          `${n.name} ${n.fabric} ${n.speed_mbps > 0 ? `${n.speed_mbps} Mb/s` : "speed ?"} ${
            n.state === "up" ? "up" : "DOWN"
          }${n.ipv4 ? ` ${n.ipv4}` : ""}`
        ).join(", ")
    }`,
  );
  const s = r.storage;
  const disks = s.local_disks.map((d) =>
    `${d.device} ${d.disk_type} ${bytesText(d.capacity_bytes)}`
  );
  lines.push(
    `  Storage:  ${s.node_type === "diskless" ? "diskless" : `local disks: ${disks.join(", ")}`}`,
  );
  for (const mount of s.mounts) {
    const size = mount.total_bytes === 0
      ? "capacity unknown (statvfs failed)"
      : `${bytesText(mount.total_bytes)} (${bytesText(mount.available_bytes)} free)`;
    lines.push(`    ${mount.path} ${mount.fs_type} ${mount.source}: ${size}`);
  }
  const sup = r.supervisor_status;
  lines.push(
    `  Services: ${sup.declared} declared, ${sup.running} running, ${sup.failed} failed (${sup.backend} backend)${
      r.software.services.length > 0
        ? `: ${r.software.services.map((svc) => `${svc.name} ${svc.state}`).join(", ")}`
        : ""
    }`,
  );
  if (r.emergency) {
    lines.push(
      `  EMERGENCY: ${r.emergency.reason} (by ${r.emergency.admin}, until ${r.emergency.expires_at})`,
    );
  }
  if (r.drift_summary && r.drift_summary.drifted_keys > 0) {
    lines.push(
      `  Drift:    ${r.drift_summary.drifted_keys} key(s), magnitude ${r.drift_summary.magnitude}, window ${r.drift_summary.window}`,
    );
  }
  return `${lines.join("\n")}\n`;
}
