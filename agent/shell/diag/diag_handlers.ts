/**
 * The CollectDiag RPC (a server stream of DiagChunk) over DiagOps, and the
 * shell module that serves it from the booted node.
 */
import type { handleServerStreamingCall } from "@grpc/grpc-js";
import type { DiagChunk, DiagRequest } from "../../../shared/proto/gen/pact/shell/shell.ts";
import { realCommandRunner } from "../../host/command_runner.ts";
import { PactSupervisor } from "../../supervisor/supervisor.ts";
import type { Handlers, RpcKit } from "../rpc_kit.ts";
import type { ShellModule } from "../start.ts";
import { DiagOps } from "./diag_ops.ts";
import { hostDiagSources } from "./diag_sources.ts";

/** CollectDiag. */
export function diagHandlers(kit: RpcKit, ops: DiagOps): Handlers {
  const collectDiag: handleServerStreamingCall<DiagRequest, DiagChunk> = (call) => {
    let cancelled = false;
    call.on("cancelled", () => cancelled = true);
    (async () => {
      const principal = await kit.authenticate(call.metadata);
      for await (const chunk of ops.collect(principal, call.request)) {
        if (cancelled) break;
        if (!call.write(chunk)) await new Promise((resolve) => call.once("drain", resolve));
      }
    })().then(
      () => {
        if (!cancelled) call.end();
      },
      (err) => {
        if (!cancelled) call.emit("error", kit.fail("CollectDiag", err));
      },
    );
  };
  return { collectDiag };
}

/**
 * The diag module: sources under the node's host root; dmesg and
 * journalctl run only on a real host (root "/"), never for a sandbox.
 */
export const diagModule: ShellModule = ({ node, journal, log }) => {
  const { config, services } = node.boot;
  const sources = hostDiagSources({
    root: config.hostRoot,
    backend: services.backend,
    serviceNames: async () => (await services.status()).map((s) => s.name),
    logsOf: services instanceof PactSupervisor ? (name) => services.logs(name) : undefined,
    run: config.hostRoot === "/" ? realCommandRunner : undefined,
  });
  const ops = new DiagOps({
    node: { nodeId: config.nodeId, vcluster: config.vcluster },
    sources,
    journal,
    log,
  });
  return (kit) => diagHandlers(kit, ops);
};
