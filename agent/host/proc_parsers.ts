/**
 * Parsers of kernel and tool output: /proc/self/mountinfo, /proc/modules
 * and `ip -j addr` / `ip -j route`. Pure functions, so both host adapters
 * share them and tests feed them text.
 */
import { PactError } from "../../shared/errors/mod.ts";
import type { LinkEntry, ModuleEntry, MountEntry, RouteEntry } from "./host.ts";

/** Parses /proc/self/mountinfo (proc(5)); a malformed line is an INVALID_ARGUMENT error. */
export function parseMountinfo(text: string): MountEntry[] {
  return text.split("\n").filter((line) => line.trim() !== "").map((line, index) => {
    const [left, right] = splitOnce(line, " - ");
    const fields = left.split(" ");
    const tail = right?.split(" ");
    if (fields.length < 6 || tail === undefined || tail.length < 3) {
      throw new PactError(
        "INVALID_ARGUMENT",
        `Cannot parse mountinfo line ${index + 1}: ${JSON.stringify(line)}`,
      );
    }
    const options = fields[5]!;
    return {
      mountId: Number(fields[0]),
      parentId: Number(fields[1]),
      root: unescapeOctal(fields[3]!),
      mountPoint: unescapeOctal(fields[4]!),
      options,
      fsType: tail[0]!,
      source: unescapeOctal(tail[1]!),
      superOptions: tail[2]!,
      readOnly: options.split(",").includes("ro"),
    };
  });
}

/** Parses /proc/modules: `name size refcount usedby,... state address`. */
export function parseProcModules(text: string): ModuleEntry[] {
  return text.split("\n").filter((line) => line.trim() !== "").map((line, index) => {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 5) {
      throw new PactError(
        "INVALID_ARGUMENT",
        `Cannot parse /proc/modules line ${index + 1}: ${JSON.stringify(line)}`,
      );
    }
    return {
      name: fields[0]!,
      sizeBytes: Number(fields[1]),
      refCount: Number(fields[2]),
      usedBy: fields[3] === "-" ? [] : fields[3]!.split(",").filter((s) => s !== ""),
      state: fields[4]!,
    };
  });
}

interface IpAddr {
  ifname?: unknown;
  mtu?: unknown;
  flags?: unknown;
  operstate?: unknown;
  address?: unknown;
  addr_info?: unknown;
}

/** Parses `ip -j addr` output into links with their CIDR addresses. */
export function parseIpAddr(json: string): LinkEntry[] {
  const items = parseJsonArray(json, "ip -j addr");
  return items.map((raw) => {
    const item = raw as IpAddr;
    if (typeof item.ifname !== "string") {
      throw new PactError("INVALID_ARGUMENT", "Cannot parse ip -j addr: an entry has no ifname");
    }
    const flags = Array.isArray(item.flags) ? item.flags.map(String) : [];
    const infos = Array.isArray(item.addr_info) ? item.addr_info : [];
    return {
      name: item.ifname,
      mtu: typeof item.mtu === "number" ? item.mtu : 0,
      up: flags.includes("UP"),
      mac: typeof item.address === "string" ? item.address : "",
      addresses: infos
        .filter((info): info is { local: string; prefixlen: number } =>
          typeof info?.local === "string" && typeof info?.prefixlen === "number"
        )
        .map((info) => `${info.local}/${info.prefixlen}`),
    };
  });
}

/** Parses `ip -j route` output. */
export function parseIpRoute(json: string): RouteEntry[] {
  return parseJsonArray(json, "ip -j route").map((raw) => {
    const item = raw as { dst?: unknown; gateway?: unknown; dev?: unknown };
    return {
      destination: typeof item.dst === "string" ? item.dst : "default",
      gateway: typeof item.gateway === "string" ? item.gateway : undefined,
      device: typeof item.dev === "string" ? item.dev : undefined,
    };
  });
}

function parseJsonArray(json: string, what: string): unknown[] {
  let value: unknown;
  try {
    value = JSON.parse(json.trim() === "" ? "[]" : json);
  } catch (err) {
    throw new PactError("INVALID_ARGUMENT", `Cannot parse ${what}: ${(err as Error).message}`);
  }
  if (!Array.isArray(value)) {
    throw new PactError("INVALID_ARGUMENT", `Cannot parse ${what}: expected a JSON array`);
  }
  return value;
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + separator.length)];
}

/** mountinfo escapes space, tab, newline and backslash as \040 etc. */
function unescapeOctal(text: string): string {
  return text.replace(
    /\\([0-7]{3})/g,
    (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
  );
}
