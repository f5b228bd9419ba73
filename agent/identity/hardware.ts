/**
 * The hardware identity an agent presents at enrollment: SMBIOS UUID
 * (`/sys/class/dmi/id/product_uuid`), the primary MAC addresses (physical
 * Ethernet interfaces under `/sys/class/net`) and the board serial. The
 * source directories are options so that tests can point them at files;
 * this module only ever reads them.
 */
import type { HardwareIdentity } from "../../shared/proto/gen/pact/config/config.ts";
import { emptyHardwareIdentity, hardwareFields } from "../../shared/domain/hardware_identity.ts";
import { PactError } from "../../shared/errors/mod.ts";

/** Where the hardware facts are read from. */
export interface HardwareSources {
  /** DMI directory. Default `/sys/class/dmi/id`. */
  readonly dmiDir?: string;
  /** Network interface directory. Default `/sys/class/net`. */
  readonly netDir?: string;
}

/** Most MAC addresses presented (the first is the primary one). */
export const MAC_ADDRESSES_MAX = 8;

const ARPHRD_ETHER = "1";
const NO_MAC = "00:00:00:00:00:00";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Placeholders firmware writes when it has no real value. */
const PLACEHOLDER = /^(|none|default string|to be filled by o\.e\.m\.|not specified|0+|n\/a)$/i;

/**
 * Reads this machine's identity; throws IDENTITY (INVALID_ARGUMENT) when
 * none of MAC, UUID is readable, since the journal could match nothing.
 */
export async function readHardwareIdentity(
  sources: HardwareSources = {},
): Promise<HardwareIdentity> {
  const dmiDir = sources.dmiDir ?? "/sys/class/dmi/id";
  const netDir = sources.netDir ?? "/sys/class/net";
  const uuid = (await readFact(`${dmiDir}/product_uuid`))?.toLowerCase();
  const serial = await readFact(`${dmiDir}/board_serial`);
  const macs = await physicalMacs(netDir);
  const identity: HardwareIdentity = {
    ...emptyHardwareIdentity(),
    macAddress: macs[0] ?? "",
    macAddresses: macs,
    smbiosUuid: uuid !== undefined && UUID.test(uuid) ? uuid : "",
    bmcSerial: serial !== undefined && /^[\x21-\x7e]{1,64}$/.test(serial) ? serial : "",
  };
  try {
    hardwareFields(identity);
  } catch {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Cannot identify this machine: no SMBIOS UUID in ${dmiDir}/product_uuid and no physical MAC address under ${netDir}`,
    );
  }
  return identity;
}

/** MACs of physical Ethernet interfaces (those with a `device` link), by interface name. */
async function physicalMacs(netDir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(netDir)) names.push(entry.name);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.PermissionDenied) {
      return [];
    }
    throw err;
  }
  const macs: string[] = [];
  for (const name of names.sort()) {
    const dir = `${netDir}/${name}`;
    if ((await readFact(`${dir}/type`)) !== ARPHRD_ETHER) continue;
    if (!(await exists(`${dir}/device`))) continue;
    const mac = (await readFact(`${dir}/address`))?.toLowerCase();
    if (mac === undefined || mac === NO_MAC || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac)) {
      continue;
    }
    if (!macs.includes(mac)) macs.push(mac);
    if (macs.length === MAC_ADDRESSES_MAX) break;
  }
  return macs;
}

/** A trimmed one-line fact, or undefined when absent, unreadable (root-only) or a placeholder. */
async function readFact(path: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
  const value = text.trim();
  return PLACEHOLDER.test(value) ? undefined : value;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
