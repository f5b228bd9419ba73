/**
 * SystemdBackend: systemd runs the services, pact writes their unit files
 * and drives `systemctl` (reference §2.13). No supervision loop, health
 * checks or cgroup writes of its own in this mode.
 */
import { join } from "node:path";
import { PactError } from "../../shared/errors/mod.ts";
import type { ServiceManager, ServiceState, ServiceStatus } from "./service_manager.ts";
import type { ServiceSpec } from "./service_spec.ts";
import { startOrder } from "./start_order.ts";
import { renderUnit, unitName, type UnitOptions } from "./systemd_unit.ts";

/** Result of one systemctl call. */
export interface SystemctlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The systemctl port: runs `systemctl <args>`. */
export type SystemctlRunner = (args: readonly string[]) => Promise<SystemctlResult>;

/** The real systemctl. */
export const systemctl: SystemctlRunner = async (args) => {
  const output = await new Deno.Command("systemctl", { args: [...args], stdin: "null" }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
};

/** Options of a SystemdBackend. */
export interface SystemdOptions extends UnitOptions {
  /** Where unit files go (default /etc/systemd/system). */
  readonly unitDirectory: string;
  readonly run: SystemctlRunner;
}

const SHOW_PROPERTIES = "ActiveState,SubState,MainPID,NRestarts,ExecMainStatus,Result";

/** Manages the declared services through systemd. */
export class SystemdBackend implements ServiceManager {
  readonly backend = "systemd";
  readonly #services: readonly ServiceSpec[];
  readonly #order: string[];
  readonly #options: SystemdOptions;

  constructor(services: readonly ServiceSpec[], options: SystemdOptions) {
    this.#order = startOrder(services);
    this.#services = services;
    this.#options = options;
  }

  /** Writes every unit file and reloads systemd. */
  async install(): Promise<void> {
    for (const spec of this.#services) {
      await Deno.writeTextFile(
        join(this.#options.unitDirectory, unitName(spec.name)),
        renderUnit(spec, this.#services, this.#options),
      );
    }
    await this.#systemctl("daemon-reload");
  }

  async startAll(): Promise<void> {
    await this.install();
    for (const name of this.#order) await this.start(name);
  }

  async stopAll(): Promise<void> {
    for (const name of [...this.#order].reverse()) await this.stop(name);
  }

  async start(name: string): Promise<void> {
    await this.#systemctl("start", this.#unit(name));
  }

  async stop(name: string): Promise<void> {
    await this.#systemctl("stop", this.#unit(name));
  }

  async restart(name: string): Promise<void> {
    await this.#systemctl("restart", this.#unit(name));
  }

  async status(): Promise<ServiceStatus[]> {
    const result: ServiceStatus[] = [];
    for (const name of this.#order) {
      const shown = await this.#systemctl(
        "show",
        this.#unit(name),
        `--property=${SHOW_PROPERTIES}`,
      );
      result.push(statusFromShow(name, shown.stdout));
    }
    return result;
  }

  #unit(name: string): string {
    if (!this.#order.includes(name)) throw new PactError("NOT_FOUND", `Unknown service: ${name}`);
    return unitName(name);
  }

  async #systemctl(...args: string[]): Promise<SystemctlResult> {
    const result = await this.#options.run(args);
    if (result.code !== 0) {
      const reason = result.stderr.trim().split("\n")[0] || `exit code ${result.code}`;
      throw new PactError("INTERNAL", `Cannot run systemctl ${args.join(" ")}: ${reason}`);
    }
    return result;
  }
}

/** Reads `systemctl show --property=...` output (KEY=value lines) into a status. */
export function statusFromShow(name: string, text: string): ServiceStatus {
  const props = new Map<string, string>();
  for (const line of text.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) props.set(line.slice(0, at), line.slice(at + 1));
  }
  const pid = Number(props.get("MainPID") ?? "0");
  const exit = props.get("ExecMainStatus");
  return {
    name,
    state: stateOf(props.get("ActiveState") ?? "", props.get("SubState") ?? ""),
    pid: pid > 0 ? pid : undefined,
    restartCount: Number(props.get("NRestarts") ?? "0") || 0,
    lastExitCode: exit === undefined || exit === "" ? undefined : Number(exit),
    healthy: undefined,
    crashLoop: props.get("Result") === "start-limit-hit",
  };
}

function stateOf(active: string, sub: string): ServiceState {
  if (sub === "auto-restart") return "restarting";
  switch (active) {
    case "active":
    case "reloading":
      return "running";
    case "activating":
      return "starting";
    case "deactivating":
      return "stopping";
    case "failed":
      return "failed";
    default:
      return "stopped";
  }
}
