/**
 * The boot sequence (reference §2.2, §2.14): load config → identity →
 * pull config from the journal (or the cache) → apply sysctl, modules,
 * mounts, files, network → start services in dependency order → capability
 * report → readiness signal. Each phase is timed; the first failure stops
 * the boot (BootFailed) with the phases that ran.
 */
import type { Clock } from "../../shared/clock/clock.ts";
import { formatHostPort } from "../../shared/config/listen_address.ts";
import type {
  BootRecord,
  DeclaredState,
  VClusterPolicy,
} from "../../shared/proto/gen/pact/config/config.ts";
import type { AgentConfig } from "../config.ts";
import type { AgentIdentity } from "../identity/mod.ts";
import type { Host } from "../host/host.ts";
import type { CgroupPort } from "../supervisor/cgroup.ts";
import type { ServiceEventSink } from "../supervisor/events.ts";
import type { ProcessSpawner } from "../supervisor/process.ts";
import type { ServiceManager } from "../supervisor/service_manager.ts";
import type { Timers } from "../supervisor/timers.ts";
import { applyDeclared, describeApply, effectiveState } from "./apply_config.ts";
import { BootError } from "./boot_error.ts";
import { PhaseRunner } from "./boot_phases.ts";
import type { BootConfig } from "./boot_config.ts";
import {
  type CapabilityReporter,
  capabilityReporterFor,
  describeReport,
} from "../capability/mod.ts";
import type { DetectSources } from "../capability/sources.ts";
import { ConfigCache } from "./config_cache.ts";
import { type JournalTls, pullBootConfig } from "./config_stream.ts";
import type { NodeAppliers } from "./node_appliers.ts";
import { startServices } from "./start_services.ts";

/** Everything the boot needs; `run_boot.ts` wires the real adapters. */
export interface BootOptions {
  readonly loadConfig: () => Promise<AgentConfig>;
  /** The agent's bearer token (role pact-service-agent); undefined: none configured. */
  readonly token: string | undefined;
  readonly hostOf: (config: AgentConfig) => Host;
  readonly appliersOf: (config: AgentConfig, host: Host) => NodeAppliers;
  /** Cgroup port for the supervisor; undefined runs services in the agent's cgroup. */
  readonly cgroupsOf: (config: AgentConfig) => Promise<CgroupPort | undefined>;
  readonly readTls: (config: AgentConfig) => Promise<JournalTls | undefined>;
  /**
   * The node's machine identity when `[agent.enrollment]` is configured: a
   * stored certificate still valid, or a new one from Enroll. Undefined
   * when enrollment is not configured. Throws BootError: UNREACHABLE when
   * no journal answered (the boot goes on from the cache), anything else
   * ends the boot.
   */
  readonly identityOf?: ((config: AgentConfig) => Promise<BootIdentity | undefined>) | undefined;
  /** Node path of the agent's state directory (the config cache lives there). */
  readonly stateDir: string;
  /** Node path of the readiness file. */
  readonly readyPath: string;
  /** Node path of the supervised services' logs. */
  readonly logDir: string;
  /** How long to look for a journal before falling back to the cache. */
  readonly journalWaitMs: number;
  readonly attemptTimeoutMs: number;
  readonly spawner: ProcessSpawner;
  readonly timers: Timers;
  readonly clock: Clock;
  /** Monotonic ms (performance.now) and when the agent process started on that scale. */
  readonly monotonic: () => number;
  readonly startedMs: number;
  /** Where capability detection reads; default the host's /proc, /sys and vendor tools. */
  readonly capabilitySourcesOf?: ((config: AgentConfig, host: Host) => DetectSources) | undefined;
  readonly onServiceEvent: ServiceEventSink;
  readonly log: (line: string) => void;
}

/** An enrolled identity and the mTLS files it gives the boot stream. */
export interface BootIdentity {
  readonly identity: AgentIdentity;
  readonly tls: JournalTls;
  /** What happened, in words: reused or enrolled, node, serial. */
  readonly detail: string;
}

/** A node that reached readiness. */
export interface BootResult {
  readonly config: AgentConfig;
  readonly host: Host;
  readonly declared: DeclaredState;
  readonly policy: VClusterPolicy | undefined;
  readonly services: ServiceManager;
  /** The capability reporter: manifest, socket and periodic detection (reference §2.16). */
  readonly capability: CapabilityReporter;
  /** The node's certificate keeper when it enrolled; undefined with a token only. */
  readonly identity: AgentIdentity | undefined;
  readonly record: BootRecord;
  /** Where the config came from, in words. */
  readonly source: string;
}

/** Runs every phase; throws BootFailed (with the record so far) when one fails. */
export async function bootNode(options: BootOptions): Promise<BootResult> {
  const { log } = options;
  const phases = new PhaseRunner(options.monotonic, (phase) =>
    log(
      `boot: ${phase.ok ? "ok  " : "FAIL"} ${phase.name.padEnd(14)} ${
        String(phase.durationMs).padStart(5)
      } ms  ${phase.detail}`,
    ), options.startedMs);
  let services: ServiceManager | undefined;
  let capability: CapabilityReporter | undefined;
  try {
    const config = await phases.run("load_config", async () => {
      const config = await options.loadConfig();
      return {
        value: config,
        detail: `${config.configPath}: node ${config.nodeId}, vCluster ${
          config.vcluster ?? "(from the journal)"
        }, ${config.journal.endpoints.length} journal endpoint(s), host ${config.hostRoot}`,
      };
    });
    const enrolled = await phases.run("identity", () => identityPhase(options, config));
    const host = options.hostOf(config);
    const cache = new ConfigCache(host.files, options.stateDir);
    const pulled = await phases.run(
      "pull_config",
      () => pull(options, config, cache, enrolled),
    );
    phases.fromCache = pulled.fromCache;
    phases.overlayVersion = pulled.config.complete.baseVersion;
    const declared = effectiveState(pulled.config);
    await phases.run("apply_config", async () => {
      const summary = await applyDeclared(declared, host, options.appliersOf(config, host));
      return { value: undefined, detail: describeApply(summary) };
    });
    services = await phases.run("start_services", async () => {
      const started = await startServices(declared, config, host, options);
      services = started.manager;
      return { value: started.manager, detail: started.detail };
    });
    capability = await phases.run("capability", async () => {
      const reporter = capabilityReporterFor(
        config,
        host,
        services!,
        pulled.config.complete.configVersion,
        log,
        options.capabilitySourcesOf?.(config, host),
      );
      capability = reporter;
      const report = await reporter.start();
      return {
        value: reporter,
        detail: describeReport(report, config.capability.manifestPath),
      };
    });
    await phases.run("ready", async () => {
      await host.files.write(
        options.readyPath,
        new TextEncoder().encode(`${config.nodeId}\n`),
        0o644,
      );
      return { value: undefined, detail: `wrote ${options.readyPath}` };
    });
    return {
      config,
      host,
      declared,
      policy: pulled.config.complete.policy,
      services: services!,
      capability,
      identity: enrolled.value?.identity,
      record: phases.record(),
      source: pulled.source,
    };
  } catch (err) {
    await capability?.stop().catch(() => {});
    await services?.stopAll().catch(() => {});
    throw err;
  }
}

interface PullResult {
  readonly config: BootConfig;
  readonly fromCache: boolean;
  readonly source: string;
}

/** What the identity phase found: an identity, or why there is none. */
interface Enrolled {
  readonly value: BootIdentity | undefined;
  /** Set when enrollment is configured but no journal answered. */
  readonly unreachable: BootError | undefined;
}

/** The identity phase: enroll, reuse the stored certificate, or skip. */
async function identityPhase(
  options: BootOptions,
  config: AgentConfig,
): Promise<{ value: Enrolled; detail: string }> {
  if (config.enrollment === undefined || options.identityOf === undefined) {
    return {
      value: { value: undefined, unreachable: undefined },
      detail: "skipped: no enrollment configured (the agent token authenticates)",
    };
  }
  try {
    const found = await options.identityOf(config);
    return {
      value: { value: found, unreachable: undefined },
      detail: found?.detail ?? "skipped",
    };
  } catch (err) {
    if (!(err instanceof BootError) || err.reason !== "JOURNAL_UNREACHABLE") throw err;
    return {
      value: { value: undefined, unreachable: err },
      detail: `NOT ENROLLED: ${err.message}; the config comes from the cache`,
    };
  }
}

/** The pull_config phase: the journal, else the cache when no journal answered. */
async function pull(
  options: BootOptions,
  config: AgentConfig,
  cache: ConfigCache,
  enrolled: Enrolled,
): Promise<{ value: PullResult; detail: string }> {
  if (enrolled.unreachable) return fromCache(options, cache, config, enrolled.unreachable);
  if (options.token === undefined && enrolled.value === undefined) {
    throw new BootError(
      "JOURNAL_REFUSED",
      "UNAUTHENTICATED",
      "No agent token: set PACT_AGENT_TOKEN (or --token-file) to a pact-service-agent token, or configure [agent.enrollment]",
    );
  }
  // A cache that cannot be read is reported, not used; the journal may still answer.
  let cached: Awaited<ReturnType<ConfigCache["load"]>>;
  let cacheProblem: string | undefined;
  try {
    cached = await cache.load(config.nodeId);
  } catch (err) {
    cacheProblem = (err as Error).message;
    options.log(`boot: ${cacheProblem}`);
  }
  const endpoints = config.journal.endpoints.map(formatHostPort);
  try {
    const pulled = await pullBootConfig({
      endpoints,
      // An enrolled node's certificate speaks for it; the token is not sent then.
      token: enrolled.value ? "" : options.token ?? "",
      tls: enrolled.value?.tls ?? await options.readTls(config),
      nodeId: config.nodeId,
      vclusterId: config.vcluster ?? "",
      lastKnownVersion: cached?.config.complete.configVersion,
      waitMs: options.journalWaitMs,
      attemptTimeoutMs: options.attemptTimeoutMs,
      log: options.log,
    });
    const complete = pulled.config.complete;
    if (complete.unchanged && cached !== undefined) {
      // Same config as cached; the completion carries the current policy.
      const current = { ...complete, unchanged: false };
      const messages = [
        ...cached.config.messages.slice(0, -1),
        { chunk: { $case: "complete" as const, value: current } },
      ];
      const merged = { ...cached.config, messages, complete: current };
      await cache.save(merged, config.nodeId, pulled.endpoint, options.clock.now());
      return {
        value: { config: merged, fromCache: false, source: `journal ${pulled.endpoint}` },
        detail:
          `journal ${pulled.endpoint}: unchanged since cached version ${cached.config.complete.configVersion} (${pulled.attempts} attempt(s))`,
      };
    }
    await cache.save(pulled.config, config.nodeId, pulled.endpoint, options.clock.now());
    return {
      value: { config: pulled.config, fromCache: false, source: `journal ${pulled.endpoint}` },
      detail: `journal ${pulled.endpoint}: vCluster ${
        complete.vclusterId || "(none)"
      }, version ${complete.configVersion} (overlay ${complete.baseVersion}, node ${complete.nodeVersion}, ${pulled.config.nodeDelta.length} delta entries), ${pulled.attempts} attempt(s); cached`,
    };
  } catch (err) {
    if (!(err instanceof BootError) || err.reason !== "JOURNAL_UNREACHABLE") throw err;
    return fromCache(options, cache, config, err, { cached, problem: cacheProblem });
  }
}

/** Boots from the cached config because no journal answered (`unreachable` says why). */
async function fromCache(
  options: BootOptions,
  cache: ConfigCache,
  config: AgentConfig,
  unreachable: BootError,
  loaded?: {
    cached: Awaited<ReturnType<ConfigCache["load"]>>;
    problem: string | undefined;
  },
): Promise<{ value: PullResult; detail: string }> {
  let cached = loaded?.cached;
  let cacheProblem = loaded?.problem;
  if (loaded === undefined) {
    try {
      cached = await cache.load(config.nodeId);
    } catch (err) {
      cacheProblem = (err as Error).message;
    }
  }
  if (cached === undefined) {
    throw new BootError(
      "NO_CONFIG",
      "UNAVAILABLE",
      `Cannot boot: ${unreachable.message}; and ${
        cacheProblem ?? `no cached config at ${cache.path} (first boot)`
      }`,
    );
  }
  const complete = cached.config.complete;
  return {
    value: { config: cached.config, fromCache: true, source: `cache ${cached.path}` },
    detail:
      `FROM CACHE (no journal reachable within ${options.journalWaitMs} ms): ${cached.path}, version ${complete.configVersion} from ${cached.endpoint} at ${cached.savedAt}`,
  };
}
