/**
 * The real Linux host: /proc and /sys below `/`, `ip -j` for the network,
 * `systemctl` for services and `rpm`/`dpkg-query` for packages. Only
 * `main.ts` wires it; tests use it read-only or inside a namespace they
 * create themselves.
 */
import type { Host, NetworkPort, PackageEntry, PackagesPort, ServicesPort } from "./host.ts";
import { type CommandRunner, realCommandRunner, runChecked } from "./command_runner.ts";
import { parseIpAddr, parseIpRoute } from "./proc_parsers.ts";
import {
  Rooted,
  RootedConsumers,
  RootedFiles,
  RootedModules,
  RootedMounts,
  RootedSysctl,
} from "./rooted_host.ts";

/** Network through `ip -j addr` and `ip -j route`. */
export class IpNetwork implements NetworkPort {
  readonly #run: CommandRunner;

  constructor(run: CommandRunner) {
    this.#run = run;
  }

  async links() {
    return parseIpAddr(await runChecked(this.#run, "ip", ["-j", "addr"]) ?? "[]");
  }

  async routes() {
    return parseIpRoute(await runChecked(this.#run, "ip", ["-j", "route"]) ?? "[]");
  }
}

/** Services through systemctl (none where systemctl is missing, e.g. under PactSupervisor). */
export class SystemctlServices implements ServicesPort {
  readonly #run: CommandRunner;

  constructor(run: CommandRunner) {
    this.#run = run;
  }

  async list() {
    const out = await runChecked(this.#run, "systemctl", [
      "list-units",
      "--type=service",
      "--all",
      "--plain",
      "--no-legend",
      "--no-pager",
    ]) ?? "";
    return out.split("\n").map((line) => line.trim().split(/\s+/)).filter((f) => f.length >= 4)
      .map(([unit, , , sub]) => ({ name: unit!.replace(/\.service$/, ""), state: sub! }));
  }
}

/** Packages through rpm, else dpkg-query; none where neither exists. */
export class DistroPackages implements PackagesPort {
  readonly #run: CommandRunner;

  constructor(run: CommandRunner) {
    this.#run = run;
  }

  async list(): Promise<PackageEntry[]> {
    const rpm = await runChecked(this.#run, "rpm", [
      "-qa",
      "--qf",
      "%{NAME}\\t%{VERSION}-%{RELEASE}\\n",
    ]);
    const out = rpm ??
      await runChecked(this.#run, "dpkg-query", ["-W", "-f", "${Package}\\t${Version}\\n"]) ?? "";
    return out.split("\n").filter((line) => line.includes("\t")).map((line) => {
      const [name, version] = line.split("\t");
      return { name: name!, version: version ?? "" };
    });
  }
}

/** The node this process runs on. */
export function linuxHost(run: CommandRunner = realCommandRunner): Host {
  const at = new Rooted("/");
  return {
    name: "linux",
    files: new RootedFiles(at),
    sysctl: new RootedSysctl(at),
    mounts: new RootedMounts(at),
    modules: new RootedModules(at),
    network: new IpNetwork(run),
    services: new SystemctlServices(run),
    packages: new DistroPackages(run),
    consumers: new RootedConsumers(at),
  };
}
