/**
 * PactSupervisor: pact runs the services itself (PID 1 mode). Each service
 * gets a cgroup scope, a spawned process with its output in a rotating log,
 * optional health probes, and a restart policy with exponential backoff and
 * crash-loop detection. Every lifecycle change is emitted as a ServiceEvent.
 *
 * Per service: stopped → starting → running → (exit) → restarting → running
 * …, or → stopped (policy says no restart), or → failed (crash loop). stop()
 * goes running → stopping → stopped: SIGTERM, then SIGKILL after the grace.
 */
import { PactError } from "../../shared/errors/mod.ts";
import type { CgroupPort, CgroupScope } from "./cgroup.ts";
import type { ServiceEvent, ServiceEventSink } from "./events.ts";
import { probeHealth } from "./health_probe.ts";
import type { ProcessSpawner, SpawnedProcess } from "./process.ts";
import {
  type CrashHistory,
  decideRestart,
  DEFAULT_RESTART_LIMITS,
  type ExitStatus,
  isFailure,
  NO_CRASHES,
  type RestartLimits,
} from "./restart_decision.ts";
import { DEFAULT_LOG_LIMITS, type LogLimits, RotatingLog } from "./rotating_log.ts";
import type { ServiceManager, ServiceState, ServiceStatus } from "./service_manager.ts";
import type { ServiceSpec } from "./service_spec.ts";
import { startOrder } from "./start_order.ts";
import type { Timers } from "./timers.ts";

/** Wiring and limits of a PactSupervisor. */
export interface SupervisorOptions {
  readonly spawner: ProcessSpawner;
  /** Per-service scopes; without it services run in the agent's own cgroup. */
  readonly cgroups?: CgroupPort;
  readonly timers: Timers;
  /** Where `<service>.log` files go. */
  readonly logDirectory: string;
  readonly logLimits?: LogLimits;
  readonly onEvent: ServiceEventSink;
  /** Time between SIGTERM and SIGKILL on stop (reference default 10 s). */
  readonly stopGraceMs?: number;
  readonly restartLimits?: RestartLimits;
  /** Failed probes in a row before an unhealthy service is restarted. */
  readonly healthFailuresMax?: number;
}

/** Exit code reported when a service's binary cannot be started at all. */
export const SPAWN_FAILED_EXIT_CODE = 127;

interface Unit {
  readonly spec: ServiceSpec;
  readonly log: RotatingLog;
  state: ServiceState;
  wanted: boolean;
  proc: SpawnedProcess | undefined;
  exitHandled: Promise<void>;
  restartCount: number;
  history: CrashHistory;
  startedAtMs: number;
  lastExit: ExitStatus | undefined;
  healthy: boolean | undefined;
  healthFailures: number;
  killedUnhealthy: boolean;
  crashLoop: boolean;
  cancelRestart: (() => void) | undefined;
  cancelHealth: (() => void) | undefined;
  cancelKill: (() => void) | undefined;
}

/** Supervises one declared set of services. */
export class PactSupervisor implements ServiceManager {
  readonly backend = "pact";
  readonly #units = new Map<string, Unit>();
  readonly #order: string[];
  readonly #options: SupervisorOptions;
  readonly #graceMs: number;
  readonly #limits: RestartLimits;
  readonly #healthFailuresMax: number;

  constructor(services: readonly ServiceSpec[], options: SupervisorOptions) {
    this.#order = startOrder(services);
    this.#options = options;
    this.#graceMs = options.stopGraceMs ?? 10_000;
    this.#limits = options.restartLimits ?? DEFAULT_RESTART_LIMITS;
    this.#healthFailuresMax = options.healthFailuresMax ?? 3;
    for (const spec of services) {
      this.#units.set(spec.name, {
        spec,
        log: new RotatingLog(
          options.logDirectory,
          spec.name,
          options.logLimits ?? DEFAULT_LOG_LIMITS,
        ),
        state: "stopped",
        wanted: false,
        proc: undefined,
        exitHandled: Promise.resolve(),
        restartCount: 0,
        history: NO_CRASHES,
        startedAtMs: 0,
        lastExit: undefined,
        healthy: undefined,
        healthFailures: 0,
        killedUnhealthy: false,
        crashLoop: false,
        cancelRestart: undefined,
        cancelHealth: undefined,
        cancelKill: undefined,
      });
    }
  }

  /** Service names in start order. */
  get startOrder(): readonly string[] {
    return this.#order;
  }

  async startAll(): Promise<void> {
    await this.#options.cgroups?.ensureHierarchy();
    for (const name of this.#order) await this.start(name);
  }

  async stopAll(): Promise<void> {
    for (const unit of this.#units.values()) unit.wanted = false;
    for (const name of [...this.#order].reverse()) await this.stop(name);
  }

  /** Starts one service; a no-op when it runs. Its dependencies must be running. */
  async start(name: string): Promise<void> {
    const unit = this.#unit(name);
    if (unit.state === "running" || unit.state === "starting") return;
    for (const dep of unit.spec.dependsOn) {
      const state = this.#unit(dep).state;
      if (state !== "running") {
        throw new PactError("CONFLICT", `Cannot start ${name}: dependency ${dep} is ${state}`);
      }
    }
    unit.cancelRestart?.();
    unit.cancelRestart = undefined;
    unit.wanted = true;
    unit.crashLoop = false;
    unit.history = NO_CRASHES;
    await this.#launch(unit, "start");
  }

  /** Stops one service: SIGTERM, then SIGKILL after the grace period. */
  async stop(name: string): Promise<void> {
    const unit = this.#unit(name);
    unit.wanted = false;
    unit.cancelRestart?.();
    unit.cancelRestart = undefined;
    const proc = unit.proc;
    if (proc === undefined) {
      if (unit.state === "restarting") {
        unit.state = "stopped";
        this.#emit(unit, { action: "stop", detail: "pending restart cancelled" });
      }
      return;
    }
    unit.state = "stopping";
    this.#terminate(unit, proc);
    await unit.exitHandled;
    this.#emit(unit, {
      action: "stop",
      ...exitCodeOf(unit.lastExit),
      detail: `stopped (${describeExit(unit.lastExit!)})`,
    });
  }

  async restart(name: string): Promise<void> {
    const unit = this.#unit(name);
    await this.stop(name);
    unit.wanted = true;
    unit.crashLoop = false;
    unit.restartCount++;
    await this.#launch(unit, "restart");
  }

  status(): Promise<ServiceStatus[]> {
    return Promise.resolve(this.#order.map((name) => {
      const unit = this.#unit(name);
      return {
        name,
        state: unit.state,
        pid: unit.proc?.pid,
        restartCount: unit.restartCount,
        lastExitCode: unit.lastExit?.code ?? undefined,
        healthy: unit.healthy,
        crashLoop: unit.crashLoop,
      };
    }));
  }

  /** The captured output of one service. */
  logs(name: string): RotatingLog {
    return this.#unit(name).log;
  }

  #unit(name: string): Unit {
    const unit = this.#units.get(name);
    if (unit === undefined) throw new PactError("NOT_FOUND", `Unknown service: ${name}`);
    return unit;
  }

  async #launch(unit: Unit, action: "start" | "restart"): Promise<void> {
    const { spec } = unit;
    unit.state = "starting";
    unit.healthy = undefined;
    unit.healthFailures = 0;
    unit.killedUnhealthy = false;
    unit.startedAtMs = this.#options.timers.clock.now();
    let scope: CgroupScope | undefined;
    let proc: SpawnedProcess;
    try {
      if (spec.user !== "") {
        throw new PactError("CONFIG", `running as user ${spec.user} is not supported yet`);
      }
      scope = await this.#options.cgroups?.createScope(spec.slice, spec.name, spec);
      proc = this.#options.spawner.spawn(spec);
    } catch (err) {
      if (scope !== undefined) await this.#release(scope);
      await unit.log.write(
        new TextEncoder().encode(`pact: cannot start ${spec.name}: ${(err as Error).message}\n`),
      );
      this.#onExit(
        unit,
        { code: SPAWN_FAILED_EXIT_CODE, signal: null },
        `cannot start: ${(err as Error).message}`,
      );
      return;
    }
    unit.proc = proc;
    const captured = Promise.all([unit.log.capture(proc.stdout), unit.log.capture(proc.stderr)]);
    unit.exitHandled = proc.exited.then(async (exit) => {
      // Orphaned grandchildren may hold the pipes open for as long as they
      // live: wait a moment for the last output, never for the pipes' end.
      await flushed(captured, CAPTURE_FLUSH_MS);
      if (scope !== undefined) await this.#release(scope);
      unit.proc = undefined;
      this.#onExit(unit, exit, undefined);
    });
    if (scope !== undefined) {
      await this.#options.cgroups!.addProcess(scope, proc.pid).catch((err) => {
        proc.kill("SIGKILL");
        throw err;
      });
    }
    if (unit.proc !== proc) return; // It already exited.
    if (!unit.wanted) {
      // stop() ran while the scope was being created: it found no process to signal.
      proc.kill("SIGTERM");
      return;
    }
    unit.state = "running";
    this.#emit(unit, { action, detail: `pid ${proc.pid}` });
    this.#scheduleProbe(unit, proc);
  }

  #onExit(unit: Unit, exit: ExitStatus, reason: string | undefined): void {
    unit.lastExit = exit;
    unit.cancelKill?.();
    unit.cancelKill = undefined;
    unit.cancelHealth?.();
    unit.cancelHealth = undefined;
    if (!unit.wanted) {
      unit.state = "stopped";
      return;
    }
    const unhealthy = unit.killedUnhealthy;
    const counted = unhealthy
      ? { code: exit.code === 0 ? null : exit.code, signal: exit.signal ?? "SIGTERM" }
      : exit;
    const decision = decideRestart(unit.spec.restartPolicy, counted, unit.history, {
      nowMs: this.#options.timers.clock.now(),
      startedAtMs: unit.startedAtMs,
      baseDelayMs: unit.spec.restartDelayMs,
    }, this.#limits);
    unit.history = decision.history;
    const detail = reason ??
      (unhealthy ? `killed as unhealthy (${describeExit(exit)})` : describeExit(exit));
    this.#emit(unit, {
      action: isFailure(counted) ? "crash" : "stop",
      ...exitCodeOf(exit),
      detail,
    });
    switch (decision.kind) {
      case "stay_stopped":
        unit.state = "stopped";
        unit.wanted = false;
        return;
      case "crash_loop":
        unit.state = "failed";
        unit.wanted = false;
        unit.crashLoop = true;
        this.#emit(unit, {
          action: "crash_loop",
          detail: `${decision.history.exitTimesMs.length} exits within ${
            this.#limits.crashLoopWindowMs / 1000
          } s; not restarting until started by hand`,
        });
        return;
      case "restart":
        unit.state = "restarting";
        unit.cancelRestart = this.#options.timers.after(decision.delayMs, () => {
          unit.cancelRestart = undefined;
          if (!unit.wanted) return;
          unit.restartCount++;
          void this.#launch(unit, "restart");
        });
    }
  }

  #scheduleProbe(unit: Unit, proc: SpawnedProcess): void {
    const check = unit.spec.healthCheck;
    if (check === undefined) return;
    unit.cancelHealth = this.#options.timers.after(check.intervalMs, async () => {
      if (unit.proc !== proc) return;
      const result = await probeHealth(check, true);
      if (unit.proc !== proc || unit.state !== "running") return;
      if (result.healthy) {
        unit.healthFailures = 0;
        if (unit.healthy !== true) this.#emit(unit, { action: "healthy", detail: result.detail });
        unit.healthy = true;
      } else {
        unit.healthFailures++;
        if (unit.healthy !== false) {
          this.#emit(unit, { action: "unhealthy", detail: result.detail });
        }
        unit.healthy = false;
        if (unit.healthFailures >= this.#healthFailuresMax) {
          unit.killedUnhealthy = true;
          this.#terminate(unit, proc);
          return;
        }
      }
      this.#scheduleProbe(unit, proc);
    });
  }

  /** SIGTERM now, SIGKILL once the grace period is over (cancelled when it exits). */
  #terminate(unit: Unit, proc: SpawnedProcess): void {
    proc.kill("SIGTERM");
    unit.cancelKill ??= this.#options.timers.after(this.#graceMs, () => proc.kill("SIGKILL"));
  }

  async #release(scope: CgroupScope): Promise<void> {
    await this.#options.cgroups?.releaseScope(scope);
  }

  #emit(unit: Unit, event: Omit<ServiceEvent, "service" | "restartCount" | "atMs">): void {
    this.#options.onEvent({
      service: unit.spec.name,
      restartCount: unit.restartCount,
      atMs: this.#options.timers.clock.now(),
      ...event,
    });
  }
}

/** How long an exit waits for the process's last output to reach its log. */
const CAPTURE_FLUSH_MS = 200;

async function flushed(capture: Promise<unknown>, waitMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    capture.catch(() => {}),
    new Promise((resolve) => (timer = setTimeout(resolve, waitMs))),
  ]);
  clearTimeout(timer);
}

function exitCodeOf(exit: ExitStatus | undefined): { exitCode?: number } {
  return exit?.code === null || exit === undefined ? {} : { exitCode: exit.code };
}

function describeExit(exit: ExitStatus): string {
  return exit.code === null ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
}
