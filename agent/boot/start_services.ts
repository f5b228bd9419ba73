/**
 * The start_services phase: the declared services, parsed and checked,
 * started in dependency order by the configured backend (PactSupervisor by
 * default, systemd units otherwise). Every service must be running when the
 * phase ends; one that is not fails the phase, naming it and why.
 */
import type { DeclaredState } from "../../shared/proto/gen/pact/config/config.ts";
import type { AgentConfig } from "../config.ts";
import type { Host } from "../host/host.ts";
import type { CgroupPort } from "../supervisor/cgroup.ts";
import type { ServiceEventSink } from "../supervisor/events.ts";
import type { ProcessSpawner } from "../supervisor/process.ts";
import type { ServiceManager } from "../supervisor/service_manager.ts";
import { parseServiceDecl, type ServiceSpec } from "../supervisor/service_spec.ts";
import { PactSupervisor } from "../supervisor/supervisor.ts";
import { systemctl, SystemdBackend } from "../supervisor/systemd.ts";
import type { Timers } from "../supervisor/timers.ts";
import { BootError } from "./boot_error.ts";

/** What starting services needs from the boot's options. */
export interface ServiceWiring {
  readonly cgroupsOf: (config: AgentConfig) => Promise<CgroupPort | undefined>;
  readonly logDir: string;
  readonly spawner: ProcessSpawner;
  readonly timers: Timers;
  readonly onServiceEvent: ServiceEventSink;
}

/** Starts the declared services; returns the manager and the phase detail. */
export async function startServices(
  declared: DeclaredState,
  config: AgentConfig,
  host: Host,
  wiring: ServiceWiring,
): Promise<{ manager: ServiceManager; detail: string }> {
  // Node deltas can name a service without declaring it whole: no binary, nothing to run.
  const specs: ServiceSpec[] = declared.services.map((decl) => {
    try {
      return parseServiceDecl(decl);
    } catch (err) {
      throw new BootError("APPLY_FAILED", "INVALID_ARGUMENT", (err as Error).message);
    }
  });
  const backend = declared.supervisorBackend || config.supervisorBackend;
  const logDirectory = host.files.realPath(wiring.logDir);
  // The rotating logs append to files in it; they do not create it.
  await Deno.mkdir(logDirectory, { recursive: true });
  const manager = backend === "systemd"
    ? new SystemdBackend(specs, {
      unitDirectory: host.files.realPath("/etc/systemd/system"),
      run: systemctl,
      stopGraceMs: 10_000,
    })
    : new PactSupervisor(specs, {
      spawner: wiring.spawner,
      ...await cgroupsOption(wiring, config),
      timers: wiring.timers,
      logDirectory,
      onEvent: wiring.onServiceEvent,
    });
  try {
    await manager.startAll();
  } catch (err) {
    await manager.stopAll().catch(() => {});
    throw new BootError(
      "APPLY_FAILED",
      "INTERNAL",
      `Cannot start services: ${(err as Error).message}`,
    );
  }
  const statuses = await manager.status();
  const down = statuses.filter((s) => s.state !== "running");
  if (down.length > 0) {
    await manager.stopAll().catch(() => {});
    const what = down.map((s) =>
      `${s.name} is ${s.state}${s.lastExitCode === undefined ? "" : ` (exit ${s.lastExitCode})`}`
    );
    throw new BootError("APPLY_FAILED", "INTERNAL", `Services not running: ${what.join(", ")}`);
  }
  const order = statuses.map((s) => s.name);
  return {
    manager,
    detail: order.length === 0
      ? `no services declared (${manager.backend} backend)`
      : `${order.length} running (${manager.backend} backend): ${order.join(" → ")}`,
  };
}

async function cgroupsOption(
  wiring: ServiceWiring,
  config: AgentConfig,
): Promise<{ cgroups?: CgroupPort }> {
  const cgroups = await wiring.cgroupsOf(config);
  return cgroups === undefined ? {} : { cgroups };
}
