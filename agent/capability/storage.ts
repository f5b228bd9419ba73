/**
 * Storage detection (reference §2.16): the node is diskless unless
 * /sys/block holds `nvme*` or `sd*` disks (an unreadable /sys/block counts as
 * diskless, F40); local disks with capacity = sectors × 512; the mounts of
 * /proc/mounts (pseudo filesystems left out) with their live statvfs
 * capacity (CAP4), each under a 2 s limit: a failed or hung statvfs gives
 * 0/0 but the mount is still listed (F41).
 */
import type { DiskType, FsType, LocalDisk, MountInfo, StorageCapability } from "./report_types.ts";
import type { DetectSources } from "./sources.ts";

/** How long one statvfs may take. */
export const STATVFS_TIMEOUT_MS = 2_000;
/** Bound on the disks and mounts reported. */
const DISKS_MAX = 256;
const MOUNTS_MAX = 256;

/** Kernel filesystems that are no storage. */
const PSEUDO_FS = new Set([
  "proc",
  "sysfs",
  "devtmpfs",
  "devpts",
  "cgroup",
  "cgroup2",
  "mqueue",
  "debugfs",
  "tracefs",
  "securityfs",
  "pstore",
  "bpf",
  "configfs",
  "fusectl",
  "hugetlbfs",
  "autofs",
  "binfmt_misc",
  "rpc_pipefs",
  "nsfs",
  "efivarfs",
  "selinuxfs",
]);

/** The storage class of a filesystem type. */
export function fsTypeOf(type: string): FsType {
  if (type === "nfs" || type === "nfs4") return "nfs";
  if (type === "lustre") return "lustre";
  if (type === "ext4" || type === "xfs" || type === "tmpfs") return type;
  return "other";
}

/** One /proc/mounts line: source, path, fs type (octal escapes such as `\040` decoded). */
export function parseMounts(text: string): { source: string; path: string; type: string }[] {
  const unescape = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
  return text.split("\n").map((line) => line.trim().split(/\s+/)).filter((f) => f.length >= 3)
    .map(([source, path, type]) => ({
      source: unescape(source!),
      path: unescape(path!),
      type: type!,
    }));
}

/** Detects disks and mounts; `timeoutMs` bounds each statvfs. */
export async function detectStorage(
  sources: DetectSources,
  timeoutMs = STATVFS_TIMEOUT_MS,
): Promise<StorageCapability> {
  const disks = await localDisks(sources);
  const listed = parseMounts((await sources.readText("/proc/mounts")) ?? "")
    .filter((m) => !PSEUDO_FS.has(m.type)).slice(0, MOUNTS_MAX);
  // All at once: one hung NFS mount costs the limit once, not once per mount after it.
  const mounts: MountInfo[] = await Promise.all(listed.map(async (m) => {
    const capacity = await sources.statfs(m.path, timeoutMs).catch(() => undefined);
    return {
      path: m.path,
      fs_type: fsTypeOf(m.type),
      source: m.source,
      total_bytes: capacity?.totalBytes ?? 0,
      available_bytes: capacity?.availableBytes ?? 0,
    };
  }));
  return {
    node_type: disks.length > 0 ? "local_storage" : "diskless",
    local_disks: disks,
    mounts,
  };
}

async function localDisks(sources: DetectSources): Promise<LocalDisk[]> {
  const names = ((await sources.listDir("/sys/block")) ?? [])
    .filter((n) => /^nvme\d+n\d+$/.test(n) || /^sd[a-z]+$/.test(n)).slice(0, DISKS_MAX);
  const disks: LocalDisk[] = [];
  for (const device of names) {
    const dir = `/sys/block/${device}`;
    const sectors = Number((await sources.readText(`${dir}/size`))?.trim());
    disks.push({
      device,
      model: (await sources.readText(`${dir}/device/model`))?.trim() ?? "",
      capacity_bytes: Number.isFinite(sectors) ? sectors * 512 : 0,
      disk_type: await diskType(sources, device),
    });
  }
  return disks;
}

async function diskType(sources: DetectSources, device: string): Promise<DiskType> {
  if (device.startsWith("nvme")) return "nvme";
  const rotational = (await sources.readText(`/sys/block/${device}/queue/rotational`))?.trim();
  return rotational === "1" ? "hdd" : rotational === "0" ? "ssd" : "unknown";
}
