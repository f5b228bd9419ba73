/**
 * The capability report (reference §3.12) as the agent writes it to the
 * manifest, answers on the unix socket and returns from GetCapability:
 * plain JSON with snake_case fields, enum values as lowercase strings.
 * New fields are only ever added (lattice-node-agent tolerates unknown ones).
 */

/** Version of the JSON shape below; bumped only for incompatible changes. */
export const CAPABILITY_SCHEMA_VERSION = 1;

export type CpuArchitecture = "x86_64" | "aarch64" | "unknown";

export interface CpuCapability {
  readonly architecture: CpuArchitecture;
  readonly model: string;
  readonly physical_cores: number;
  readonly logical_cores: number;
  readonly base_frequency_mhz: number;
  readonly max_frequency_mhz: number;
  /** Raw ISA flags (x86 `flags`, arm `Features`), not normalized. */
  readonly features: readonly string[];
  readonly numa_nodes: number;
  readonly cache_l3_bytes: number;
}

export type GpuVendor = "nvidia" | "amd" | "unknown";
export type GpuHealth = "healthy" | "degraded" | "failed";

export interface GpuCapability {
  /** Position in the node's GPU list (NVIDIA first, then AMD): the `gpu.<index>` key. */
  readonly index: number;
  /** The vendor tool's own index of the device. */
  readonly device_index: number;
  readonly vendor: GpuVendor;
  readonly model: string;
  readonly memory_bytes: number;
  readonly health: GpuHealth;
  /** Why the GPU is not healthy, e.g. `ECC uncorrectable: 12`; empty when healthy. */
  readonly health_detail: string;
  readonly pci_bus_id: string;
}

export type MemoryType = "ddr4" | "ddr5" | "hbm2e" | "hbm3" | "hbm3e" | "unknown";

export interface NumaNode {
  readonly id: number;
  readonly total_bytes: number;
  readonly cpus: readonly number[];
}

export interface Hugepages {
  readonly size_2mb_total: number;
  readonly size_2mb_free: number;
  readonly size_1gb_total: number;
  readonly size_1gb_free: number;
}

export interface MemoryCapability {
  readonly total_bytes: number;
  readonly available_bytes: number;
  readonly memory_type: MemoryType;
  readonly numa_nodes: number;
  readonly numa_topology: readonly NumaNode[];
  readonly hugepages: Hugepages;
}

export type Fabric = "slingshot" | "ethernet" | "infiniband" | "unknown";

export interface NetworkInterface {
  readonly name: string;
  readonly fabric: Fabric;
  /** 0 when the kernel reports none (link down, virtual functions). */
  readonly speed_mbps: number;
  readonly state: "up" | "down";
  readonly mac: string;
  readonly ipv4: string | null;
}

export type DiskType = "nvme" | "ssd" | "hdd" | "unknown";
export type FsType = "nfs" | "lustre" | "ext4" | "xfs" | "tmpfs" | "other";

export interface LocalDisk {
  readonly device: string;
  readonly model: string;
  readonly capacity_bytes: number;
  readonly disk_type: DiskType;
}

export interface MountInfo {
  readonly path: string;
  readonly fs_type: FsType;
  readonly source: string;
  /** 0/0 when statvfs failed or timed out (a stale NFS mount stays listed). */
  readonly total_bytes: number;
  readonly available_bytes: number;
}

export interface StorageCapability {
  readonly node_type: "diskless" | "local_storage";
  readonly local_disks: readonly LocalDisk[];
  readonly mounts: readonly MountInfo[];
}

export interface ServiceStatusView {
  readonly name: string;
  readonly state: string;
  readonly pid: number | null;
  readonly uptime_seconds: number | null;
  readonly restart_count: number;
}

export interface SoftwareCapability {
  readonly loaded_modules: readonly string[];
  readonly uenv_image: string | null;
  readonly services: readonly ServiceStatusView[];
}

/** What the hardware detection found: the part of the report that comes from the node. */
export interface Detection {
  readonly cpu: CpuCapability;
  readonly gpus: readonly GpuCapability[];
  readonly memory: MemoryCapability;
  readonly network: readonly NetworkInterface[];
  readonly storage: StorageCapability;
  readonly loaded_modules: readonly string[];
  /** Problems met on the way (tool failures), for the agent's log; not in the report. */
  readonly problems: readonly string[];
}

export interface DriftSummary {
  readonly magnitude: number;
  readonly drifted_keys: number;
  /** Non-zero dimensions of the drift vector. */
  readonly vector: Readonly<Record<string, number>>;
  readonly window: "idle" | "open" | "expired";
}

export interface EmergencyInfo {
  readonly reason: string;
  readonly admin: string;
  readonly started_at: string;
  readonly expires_at: string;
  readonly stale: boolean;
}

export interface SupervisorStatus {
  readonly backend: string;
  readonly declared: number;
  readonly running: number;
  readonly failed: number;
}

/** The whole report. */
export interface CapabilityReport {
  readonly node_id: string;
  /** Null on a node without a vCluster (maintenance mode: not schedulable). */
  readonly vcluster: string | null;
  readonly timestamp: string;
  readonly report_id: string;
  readonly schema_version: number;
  readonly cpu: CpuCapability;
  readonly gpus: readonly GpuCapability[];
  readonly memory: MemoryCapability;
  readonly network: readonly NetworkInterface[];
  readonly storage: StorageCapability;
  readonly software: SoftwareCapability;
  /** `committed`, `drifted` or `emergency`. */
  readonly config_state: "committed" | "drifted" | "emergency";
  readonly config_version: number;
  readonly drift_summary: DriftSummary | null;
  readonly emergency: EmergencyInfo | null;
  readonly supervisor_status: SupervisorStatus;
}
