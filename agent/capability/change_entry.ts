/**
 * The CAPABILITY_CHANGE journal entry (reference §2.16): node-scoped, the
 * changed keys in its metadata (`key` → `previous -> current`, plus `keys`
 * listing them), a one-line message, and the new report as its
 * `pact.capability.CapabilityReport` payload. The report itself is not
 * journaled otherwise; only its changes are.
 */
import {
  CapabilityReport as WireReport,
  GpuHealth,
  GpuVendor,
} from "../../shared/proto/gen/pact/capability/capability.ts";
import type { ConfigEntry } from "../../shared/proto/gen/pact/config/config.ts";
import { agentEntry, EntryType } from "../drift/drift_entries.ts";
import type { CapabilityChange } from "./changes.ts";
import type { CapabilityReport } from "./report_types.ts";

/** Longest message: the first few changes, then a count. */
const MESSAGE_CHANGES_MAX = 5;

/** The entry for `changes`, carrying `report`. */
export function capabilityChangeEntry(
  report: CapabilityReport,
  changes: readonly CapabilityChange[],
): ConfigEntry {
  const metadata: Record<string, string> = {
    keys: changes.map((c) => c.key).join(","),
    report_id: report.report_id,
  };
  for (const c of changes) metadata[c.key] = `${c.previous} -> ${c.current}`;
  const shown = changes.slice(0, MESSAGE_CHANGES_MAX).map((c) =>
    `${c.key} ${c.previous} -> ${c.current}`
  );
  const more = changes.length > MESSAGE_CHANGES_MAX
    ? `, and ${changes.length - MESSAGE_CHANGES_MAX} more`
    : "";
  return {
    ...agentEntry({
      nodeId: report.node_id,
      type: EntryType.CAPABILITY_CHANGE,
      message: `capability changed: ${shown.join("; ")}${more}`,
      metadata,
    }),
    payload: { $case: "capability", value: toWire(report) },
  };
}

/** The report as its protobuf message (the fields the wire schema has). */
export function toWire(report: CapabilityReport): WireReport {
  const vendor = { nvidia: GpuVendor.NVIDIA, amd: GpuVendor.AMD, unknown: GpuVendor.UNSPECIFIED };
  const health = {
    healthy: GpuHealth.HEALTHY,
    degraded: GpuHealth.DEGRADED,
    failed: GpuHealth.FAILED,
  };
  return WireReport.fromPartial({
    nodeId: report.node_id,
    timestamp: new Date(report.timestamp),
    reportId: report.report_id,
    schemaVersion: report.schema_version,
    vclusterId: report.vcluster ?? "",
    cpu: {
      architecture: report.cpu.architecture,
      model: report.cpu.model,
      physicalCores: report.cpu.physical_cores,
      logicalCores: report.cpu.logical_cores,
      baseFrequencyMhz: report.cpu.base_frequency_mhz,
      maxFrequencyMhz: report.cpu.max_frequency_mhz,
      features: [...report.cpu.features],
      numaNodes: report.cpu.numa_nodes,
      cacheL3Bytes: report.cpu.cache_l3_bytes,
    },
    gpus: report.gpus.map((g) => ({
      index: g.index,
      vendor: vendor[g.vendor],
      model: g.model,
      memoryBytes: g.memory_bytes,
      health: health[g.health],
      pciBusId: g.pci_bus_id,
      healthDetail: g.health_detail,
    })),
    memory: {
      totalBytes: report.memory.total_bytes,
      availableBytes: report.memory.available_bytes,
      memoryType: report.memory.memory_type,
      numaNodes: report.memory.numa_nodes,
      numaTopology: report.memory.numa_topology.map((n) => ({
        id: n.id,
        totalBytes: n.total_bytes,
        cpus: [...n.cpus],
      })),
      hugepages: {
        size2mbTotal: report.memory.hugepages.size_2mb_total,
        size2mbFree: report.memory.hugepages.size_2mb_free,
        size1gbTotal: report.memory.hugepages.size_1gb_total,
        size1gbFree: report.memory.hugepages.size_1gb_free,
      },
    },
    network: report.network.map((n) => ({
      name: n.name,
      fabric: n.fabric,
      speedMbps: n.speed_mbps,
      up: n.state === "up",
      mac: n.mac,
      ipv4: n.ipv4 ?? "",
    })),
    storage: {
      diskless: report.storage.node_type === "diskless",
      localDisks: report.storage.local_disks.map((d) => ({
        device: d.device,
        model: d.model,
        capacityBytes: d.capacity_bytes,
        diskType: d.disk_type,
      })),
      mounts: report.storage.mounts.map((m) => ({
        path: m.path,
        fsType: m.fs_type,
        source: m.source,
        totalBytes: m.total_bytes,
        availableBytes: m.available_bytes,
      })),
    },
    software: {
      loadedModules: [...report.software.loaded_modules],
      uenvImage: report.software.uenv_image ?? "",
      services: report.software.services.map((s) => ({
        name: s.name,
        state: s.state,
        pid: s.pid ?? 0,
        uptimeSeconds: s.uptime_seconds ?? 0,
        restartCount: s.restart_count,
      })),
    },
  });
}
