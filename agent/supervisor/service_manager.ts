/**
 * The one interface both supervisor backends implement (reference §2.13):
 * PactSupervisor (pact manages processes itself, PID 1 mode) and
 * SystemdBackend (systemd does, pact writes units and calls systemctl).
 */

/** States of a supervised service (reference §2.13). */
export type ServiceState =
  | "starting"
  | "running"
  | "stopping"
  | "stopped"
  | "failed"
  | "restarting";

/** A point-in-time view of one service. */
export interface ServiceStatus {
  readonly name: string;
  readonly state: ServiceState;
  readonly pid: number | undefined;
  readonly restartCount: number;
  /** Exit code of the last exit; undefined if it never exited or a signal ended it. */
  readonly lastExitCode: number | undefined;
  /** Result of the last health probe; undefined without a check or before the first probe. */
  readonly healthy: boolean | undefined;
  /** True once restarts stopped because the service kept crashing. */
  readonly crashLoop: boolean;
}

/** Start, stop and inspect the declared services. */
export interface ServiceManager {
  readonly backend: "pact" | "systemd";
  /** Starts every service in dependency order. */
  startAll(): Promise<void>;
  /** Stops every service in reverse start order. */
  stopAll(): Promise<void>;
  start(name: string): Promise<void>;
  stop(name: string): Promise<void>;
  restart(name: string): Promise<void>;
  status(): Promise<ServiceStatus[]>;
}
