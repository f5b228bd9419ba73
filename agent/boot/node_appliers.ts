/**
 * What the host ports only read, the boot also has to change: load kernel
 * modules, mount filesystems, configure interfaces. This port does those
 * writes. The Linux adapter runs modprobe, mount and ip (spawned through
 * DenoSpawner, so the PID-1 reaper never takes their exit status); the
 * sandbox adapter records the result in the files the sandbox host reads
 * (<root>/proc/modules, <root>/proc/self/mountinfo, ip-addr.json), so the
 * observers see what boot did.
 */
import { PactError } from "../../shared/errors/mod.ts";
import type { MountSpec, NetworkDecl } from "../../shared/proto/gen/pact/config/config.ts";
import type { Host, LinkEntry } from "../host/host.ts";
import { writeSandbox } from "../host/sandbox_host.ts";
import { DenoSpawner, type ProcessSpawner } from "../supervisor/process.ts";

/** Changes the host's modules, mounts and interfaces. */
export interface NodeAppliers {
  loadModule(name: string): Promise<void>;
  mount(path: string, spec: MountSpec): Promise<void>;
  /** Brings the interface up with its address and MTU; a gateway becomes the default route. */
  configureInterface(decl: NetworkDecl): Promise<void>;
}

/** Longest one modprobe/mount/ip call may take. */
export const APPLY_COMMAND_TIMEOUT_MS = 10_000;

/** The real node: modprobe, mount, ip. */
export function linuxAppliers(spawner: ProcessSpawner = new DenoSpawner()): NodeAppliers {
  const run = (binary: string, args: string[]) => runChecked(spawner, binary, args);
  return {
    loadModule: (name) => run("modprobe", ["--", name]),
    async mount(path, spec) {
      await Deno.mkdir(path, { recursive: true });
      const options = [spec.options, spec.readOnly ? "ro" : ""].filter((o) => o !== "").join(",");
      await run("mount", [
        "-t",
        spec.fsType,
        ...(options === "" ? [] : ["-o", options]),
        "--",
        spec.source,
        path,
      ]);
    },
    async configureInterface(decl) {
      const link = ["link", "set", "dev", decl.interface];
      await run("ip", [...link, ...(decl.mtu > 0 ? ["mtu", String(decl.mtu)] : []), "up"]);
      if (decl.address !== "") {
        await run("ip", ["addr", "replace", decl.address, "dev", decl.interface]);
      }
      if (decl.gateway !== "") {
        await run("ip", [
          "route",
          "replace",
          "default",
          "via",
          decl.gateway,
          "dev",
          decl.interface,
        ]);
      }
    },
  };
}

async function runChecked(spawner: ProcessSpawner, binary: string, args: string[]): Promise<void> {
  let proc;
  try {
    proc = spawner.spawn({ binary, args, env: {} });
  } catch (err) {
    throw new PactError("UNAVAILABLE", `Cannot run ${binary}: ${(err as Error).message}`);
  }
  const timer = setTimeout(() => proc.kill("SIGKILL"), APPLY_COMMAND_TIMEOUT_MS);
  const [exit, , stderr] = await Promise.all([
    proc.exited,
    new Response(proc.stdout).arrayBuffer(),
    new Response(proc.stderr).text(),
  ]).finally(() => clearTimeout(timer));
  if (exit.code !== 0) {
    const why = exit.code === null ? `killed by ${exit.signal}` : `exit ${exit.code}`;
    throw new PactError(
      "INTERNAL",
      `${binary} ${args.join(" ")} failed (${why}): ${stderr.trim().split("\n")[0] ?? ""}`,
    );
  }
}

/** A sandbox rooted at `root`: the writes land in the files its host adapter reads. */
export function sandboxAppliers(root: string, host: Host): NodeAppliers {
  return {
    async loadModule(name) {
      const loaded = (await host.modules.list()).map((m) => m.name);
      await writeSandbox(root, { modules: [...loaded, name] });
    },
    async mount(path, spec) {
      const mounts = (await host.mounts.list()).map((m) => ({
        mountPoint: m.mountPoint,
        fsType: m.fsType,
        source: m.source,
        options: m.options,
        readOnly: m.readOnly,
      }));
      mounts.push({
        mountPoint: path,
        fsType: spec.fsType,
        source: spec.source,
        options: spec.readOnly ? "ro" : "rw",
        readOnly: spec.readOnly,
      });
      await writeSandbox(root, { mounts });
    },
    async configureInterface(decl) {
      const links = await host.network.links();
      const existing = links.find((l) => l.name === decl.interface);
      const updated: LinkEntry = {
        name: decl.interface,
        mtu: decl.mtu > 0 ? decl.mtu : existing?.mtu ?? 1500,
        up: true,
        mac: existing?.mac ?? "00:00:00:00:00:00",
        addresses: decl.address === ""
          ? existing?.addresses ?? []
          : [...new Set([...(existing?.addresses ?? []), decl.address])],
      };
      await writeSandbox(root, {
        links: [...links.filter((l) => l.name !== decl.interface), updated],
      });
    },
  };
}
