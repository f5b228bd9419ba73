/**
 * Network detection (reference §2.16, CAP3): the interfaces of
 * /sys/class/net that have a `device` link (physical NICs and their VLANs;
 * never `lo` or purely virtual ones). Fabric from the driver: `cxi` is
 * Slingshot, ARPHRD 32 InfiniBand, any other driver Ethernet, no driver
 * unknown. Speed in Mbps, 0 when negative or unreadable (F39).
 */
import type { Fabric, NetworkInterface } from "./report_types.ts";
import type { DetectSources } from "./sources.ts";

const NET_DIR = "/sys/class/net";
/** Bound on the interfaces reported. */
const INTERFACES_MAX = 256;

/** Fabric of an interface from its driver name and ARPHRD type. */
export function fabricOf(driver: string | undefined, type: number): Fabric {
  if (driver === undefined) return "unknown";
  if (driver === "cxi" || driver === "cxi_eth" || driver === "cxi_ss1") return "slingshot";
  if (type === 32) return "infiniband";
  return "ethernet";
}

/** Detects the physical network interfaces. */
export async function detectNetwork(sources: DetectSources): Promise<NetworkInterface[]> {
  const names = ((await sources.listDir(NET_DIR)) ?? []).filter((n) => n !== "lo");
  const ipv4 = await sources.ipv4().catch(() => new Map<string, string>());
  const found: NetworkInterface[] = [];
  for (const name of names) {
    if (found.length >= INTERFACES_MAX) break;
    const dir = `${NET_DIR}/${name}`;
    if (await sources.readLink(`${dir}/device`) === undefined) continue;
    const read = async (file: string) => (await sources.readText(`${dir}/${file}`))?.trim();
    const driverLink = await sources.readLink(`${dir}/device/driver`);
    const driver = driverLink?.split("/").filter((p) => p !== "").pop();
    const speed = Number(await read("speed"));
    found.push({
      name,
      fabric: fabricOf(driver, Number(await read("type"))),
      speed_mbps: Number.isInteger(speed) && speed > 0 ? speed : 0,
      state: (await read("operstate")) === "up" ? "up" : "down",
      mac: (await read("address")) ?? "",
      ipv4: ipv4.get(name) ?? null,
    });
  }
  return found;
}
