/**
 * The service RPCs of the shell server (ServiceStatus, ServiceControl,
 * ServiceLogs) over ServiceOps.
 */
import type { handleServerStreamingCall } from "@grpc/grpc-js";
import type {
  ServiceLogChunk,
  ServiceLogsRequest,
  ServiceRequest,
} from "../../shared/proto/gen/pact/shell/shell.ts";
import type { Handlers, RpcKit } from "./rpc_kit.ts";
import type { ServiceOps } from "./service_ops.ts";

/** ServiceStatus, ServiceControl and ServiceLogs. */
export function serviceHandlers(kit: RpcKit, ops: ServiceOps): Handlers {
  const serviceLogs: handleServerStreamingCall<ServiceLogsRequest, ServiceLogChunk> = (call) => {
    const controller = new AbortController();
    call.on("cancelled", () => controller.abort());
    (async () => {
      const principal = await kit.authenticate(call.metadata);
      for await (const lines of ops.logs(principal, call.request, controller.signal)) {
        if (controller.signal.aborted) break;
        if (!call.write({ lines })) await new Promise((resolve) => call.once("drain", resolve));
      }
    })().then(
      () => {
        if (!controller.signal.aborted) call.end();
      },
      (err) => {
        if (!controller.signal.aborted) call.emit("error", kit.fail("ServiceLogs", err));
      },
    );
  };
  return {
    serviceStatus: kit.unary<ServiceRequest, unknown>(
      "ServiceStatus",
      (request, principal) => ops.status(principal, request.name),
    ),
    serviceControl: kit.unary<ServiceRequest, unknown>(
      "ServiceControl",
      (request, principal) => ops.control(principal, request.name, request.action),
    ),
    serviceLogs,
  };
}
