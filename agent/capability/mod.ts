/**
 * The capability reporter of a booted node, wired to the agent's config and
 * host: on a real node (`[agent.host] root = "/"`) it reads /proc and /sys
 * and runs nvidia-smi, rocm-smi and dmidecode from PATH; on a sandbox host
 * it reads the sandbox's proc/ and sys/ and runs only tools the sandbox
 * holds under usr/bin/, so a sandbox never reports this machine's GPUs.
 */
import type { AgentConfig } from "../config.ts";
import type { Host } from "../host/host.ts";
import type { ServiceManager } from "../supervisor/service_manager.ts";
import type { CapabilityReport } from "./report_types.ts";
import { CapabilityReporter } from "./reporter.ts";
import { type DetectSources, rootedSources, type ToolName } from "./sources.ts";

export { CapabilityReporter } from "./reporter.ts";
export type { CapabilityReport } from "./report_types.ts";

const TOOLS: readonly ToolName[] = ["nvidia-smi", "rocm-smi", "dmidecode"];

/** Detection sources for the agent's host. */
export function capabilitySourcesFor(config: AgentConfig, host: Host): DetectSources {
  const sandbox = config.hostRoot !== "/";
  const root = sandbox ? config.hostRoot.replace(/\/+$/, "") : "";
  return rootedSources({
    root: sandbox ? root : "/",
    tools: Object.fromEntries(
      TOOLS.map((tool) => [tool, sandbox ? `${root}/usr/bin/${tool}` : tool]),
    ),
    ipv4: async () => {
      const found = new Map<string, string>();
      for (const link of await host.network.links()) {
        const v4 = link.addresses.find((a) => /^\d+\.\d+\.\d+\.\d+\//.test(a));
        if (v4 !== undefined) found.set(link.name, v4.split("/")[0]!);
      }
      return found;
    },
  });
}

/** A reporter for the booted node (not started). */
export function capabilityReporterFor(
  config: AgentConfig,
  host: Host,
  services: ServiceManager,
  configVersion: number,
  log: (line: string) => void,
  sources: DetectSources = capabilitySourcesFor(config, host),
): CapabilityReporter {
  return new CapabilityReporter({
    node: { nodeId: config.nodeId, vcluster: config.vcluster, configVersion },
    sources,
    files: host.files,
    manifestPath: config.capability.manifestPath,
    socketPath: host.files.realPath(config.capability.socketPath),
    pollIntervalMs: config.capability.gpuPollIntervalSeconds * 1000,
    services: async () => ({ backend: services.backend, statuses: await services.status() }),
    now: () => Date.now(),
    log,
  });
}

/** The boot phase's detail: what the first report says, in one line. */
export function describeReport(
  report: CapabilityReport,
  manifestPath: string,
): string {
  const gib = (report.memory.total_bytes / 1024 ** 3).toFixed(1);
  const unhealthy = report.gpus.filter((g) => g.health !== "healthy").length;
  return `${report.cpu.architecture} ${report.cpu.logical_cores} CPUs, ${gib} GiB, ${report.gpus.length} GPUs${
    unhealthy > 0 ? ` (${unhealthy} not healthy)` : ""
  }, ${report.network.length} NICs, ${report.storage.node_type}; written to ${manifestPath}`;
}
