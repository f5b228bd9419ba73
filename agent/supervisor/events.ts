/**
 * Lifecycle events the supervisor emits for the journal: each becomes a
 * ServiceLifecycle entry (EntryType.SERVICE_LIFECYCLE, ServiceLifecycleRecord).
 */
import type { ServiceLifecycleRecord } from "../../shared/proto/gen/pact/config/config.ts";

/** The actions of ServiceLifecycleRecord. */
export type LifecycleAction =
  | "start"
  | "stop"
  | "restart"
  | "crash"
  | "crash_loop"
  | "healthy"
  | "unhealthy";

/** One lifecycle event. */
export interface ServiceEvent {
  readonly service: string;
  readonly action: LifecycleAction;
  readonly exitCode?: number;
  readonly restartCount: number;
  readonly detail: string;
  readonly atMs: number;
}

/** Receives events; wired to the journal by the agent. */
export type ServiceEventSink = (event: ServiceEvent) => void;

/** The journal record of an event. */
export function toLifecycleRecord(event: ServiceEvent): ServiceLifecycleRecord {
  return {
    service: event.service,
    action: event.action,
    exitCode: event.exitCode,
    restartCount: event.restartCount,
    detail: event.detail,
  };
}
