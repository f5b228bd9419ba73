/**
 * A host rooted in a directory, so the agent runs unprivileged in tests and
 * demos: <root>/etc/..., <root>/proc/sys/..., <root>/proc/self/mountinfo,
 * <root>/proc/modules, <root>/proc/<pid>/fd/* for consumers. What Linux
 * only shows through tools lives in JSON files under <root>/run/pact-sandbox/:
 * `ip-addr.json` and `ip-route.json` (the `ip -j` formats), `services.json`
 * and `packages.json`.
 */
import type {
  Host,
  LinkEntry,
  MountEntry,
  PackageEntry,
  RouteEntry,
  ServiceEntry,
} from "./host.ts";
import { parseIpAddr, parseIpRoute } from "./proc_parsers.ts";
import {
  ifExists,
  Rooted,
  RootedConsumers,
  RootedFiles,
  RootedModules,
  RootedMounts,
  RootedSysctl,
} from "./rooted_host.ts";

const STATE_DIR = "/run/pact-sandbox";

/** A host whose whole filesystem view lies below `root`. */
export function sandboxHost(root: string): Host {
  const at = new Rooted(root);
  const json = async <T>(name: string): Promise<T[]> => {
    const text = await ifExists(() => Deno.readTextFile(at.real(`${STATE_DIR}/${name}`)));
    return text === undefined ? [] : JSON.parse(text) as T[];
  };
  return {
    name: `sandbox:${root}`,
    files: new RootedFiles(at),
    sysctl: new RootedSysctl(at),
    mounts: new RootedMounts(at),
    modules: new RootedModules(at),
    network: {
      links: async () => {
        const text = await ifExists(() => Deno.readTextFile(at.real(`${STATE_DIR}/ip-addr.json`)));
        return parseIpAddr(text ?? "[]");
      },
      routes: async () => {
        const text = await ifExists(() => Deno.readTextFile(at.real(`${STATE_DIR}/ip-route.json`)));
        return parseIpRoute(text ?? "[]");
      },
    },
    services: { list: () => json<ServiceEntry>("services.json") },
    packages: { list: () => json<PackageEntry>("packages.json") },
    consumers: new RootedConsumers(at),
  };
}

/** What a sandbox starts with; every part is optional. */
export interface SandboxContents {
  readonly files?: Readonly<Record<string, string>>;
  readonly sysctl?: Readonly<Record<string, string>>;
  readonly mounts?: readonly Omit<MountEntry, "mountId" | "parentId" | "root" | "superOptions">[];
  readonly modules?: readonly string[];
  readonly links?: readonly LinkEntry[];
  readonly routes?: readonly RouteEntry[];
  readonly services?: readonly ServiceEntry[];
  readonly packages?: readonly PackageEntry[];
  /** Processes: pid -> command and the node paths it holds open. */
  readonly processes?: Readonly<Record<number, { command: string; open: readonly string[] }>>;
}

/** Creates (or overwrites) the sandbox's state below `root`. */
export async function writeSandbox(root: string, contents: SandboxContents): Promise<void> {
  const at = new Rooted(root);
  const put = async (path: string, text: string) => {
    const real = at.real(path);
    await Deno.mkdir(real.slice(0, real.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(real, text);
  };
  for (const [path, text] of Object.entries(contents.files ?? {})) await put(path, text);
  for (const [key, value] of Object.entries(contents.sysctl ?? {})) {
    await put(`/proc/sys/${key.replaceAll(".", "/")}`, `${value}\n`);
  }
  if (contents.mounts) await put("/proc/self/mountinfo", mountinfoText(contents.mounts));
  if (contents.modules) {
    await put(
      "/proc/modules",
      contents.modules.map((name) => `${name} 16384 0 - Live 0x0000000000000000\n`).join(""),
    );
  }
  if (contents.links) {
    await put(`${STATE_DIR}/ip-addr.json`, JSON.stringify(contents.links.map(ipAddrOf)));
  }
  if (contents.routes) {
    await put(
      `${STATE_DIR}/ip-route.json`,
      JSON.stringify(
        contents.routes.map((r) => ({ dst: r.destination, gateway: r.gateway, dev: r.device })),
      ),
    );
  }
  if (contents.services) await put(`${STATE_DIR}/services.json`, JSON.stringify(contents.services));
  if (contents.packages) await put(`${STATE_DIR}/packages.json`, JSON.stringify(contents.packages));
  for (const [pid, process] of Object.entries(contents.processes ?? {})) {
    await put(`/proc/${pid}/comm`, `${process.command}\n`);
    const fdDir = at.real(`/proc/${pid}/fd`);
    await Deno.mkdir(fdDir, { recursive: true });
    for (const [index, path] of process.open.entries()) {
      await Deno.symlink(path, `${fdDir}/${index + 3}`);
    }
  }
}

function mountinfoText(mounts: NonNullable<SandboxContents["mounts"]>): string {
  const escape = (text: string) =>
    text.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
  return mounts.map((m, i) =>
    `${i + 20} 1 0:${i + 40} / ${escape(m.mountPoint)} ${m.options} - ${m.fsType} ${
      escape(m.source)
    } ${m.readOnly ? "ro" : "rw"}\n`
  ).join("");
}

function ipAddrOf(link: LinkEntry): unknown {
  return {
    ifname: link.name,
    mtu: link.mtu,
    flags: link.up ? ["UP", "LOWER_UP"] : [],
    address: link.mac,
    addr_info: link.addresses.map((cidr) => {
      const [local, prefix] = cidr.split("/");
      return { family: local!.includes(":") ? "inet6" : "inet", local, prefixlen: Number(prefix) };
    }),
  };
}
