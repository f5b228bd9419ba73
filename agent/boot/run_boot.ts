/**
 * Entry point of the boot sequence: wires the real adapters (the Linux host
 * at `/`, or a sandbox when `[agent.host] root` names a directory), boots,
 * journals the boot record, and keeps the services running until SIGTERM or
 * SIGINT stops them in reverse order. The node agent calls `runBoot`; run
 * directly it is `deno run -A agent/boot/run_boot.ts --config <agent.toml>`.
 */
import { systemClock } from "../../shared/clock/clock.ts";
import { exitCodeFor, isPactError } from "../../shared/errors/mod.ts";
import { formatHostPort } from "../../shared/config/listen_address.ts";
import {
  type AgentConfig,
  type AgentFlags,
  type EnvReader,
  resolveAgentConfig,
} from "../config.ts";
import type { Host } from "../host/host.ts";
import { linuxHost } from "../host/linux_host.ts";
import { sandboxHost } from "../host/sandbox_host.ts";
import { CgroupV2 } from "../supervisor/cgroup.ts";
import type { ServiceEventSink } from "../supervisor/events.ts";
import { DenoSpawner } from "../supervisor/process.ts";
import { realTimers } from "../supervisor/timers.ts";
import { BootFailed } from "./boot_phases.ts";
import { bootEntry, type EntryAppender, journalBootRecord } from "./boot_record.ts";
import { type BootIdentity, bootNode, type BootOptions, type BootResult } from "./boot_sequence.ts";
import { BootError } from "./boot_error.ts";
import type { JournalTls } from "./config_stream.ts";
import { type AgentCredentials, JournalConnection } from "../journal_connection.ts";
import { PactError } from "../../shared/errors/mod.ts";
import { linuxAppliers, sandboxAppliers } from "./node_appliers.ts";
import { parseRunArgs, type RunArgs, USAGE } from "./run_args.ts";

/** Defaults of the node paths the boot writes. */
export const DEFAULT_READY_PATH = "/run/pact/ready";
export const DEFAULT_STATE_DIR = "/var/lib/pact";
export const DEFAULT_LOG_DIR = "/run/pact/logs";
/** How long the boot looks for a journal before using the cached config. */
export const DEFAULT_JOURNAL_WAIT_MS = 5_000;

/** How to boot; everything but `flags` and `env` has a default. */
export interface RunBootOptions {
  readonly flags: AgentFlags;
  readonly env: EnvReader;
  /** The agent's token; default PACT_AGENT_TOKEN, else the file PACT_AGENT_TOKEN_FILE names. */
  readonly token?: string | undefined;
  readonly readyPath?: string | undefined;
  readonly stateDir?: string | undefined;
  readonly journalWaitMs?: number | undefined;
  /** cgroup v2 root; null: none; default `/sys/fs/cgroup` when it is cgroup2, or the sandbox's. */
  readonly cgroupRoot?: string | null | undefined;
  /** When the agent process started (performance.now scale); default 0, the process start. */
  readonly startedMs?: number | undefined;
  /** Tries to journal the boot record before giving up (2 s apart); default 30. */
  readonly recordAttemptsMax?: number | undefined;
  readonly log?: ((line: string) => void) | undefined;
  /** Also receives every service event (after it is logged), e.g. to journal it. */
  readonly onServiceEvent?: ServiceEventSink | undefined;
}

/** A booted node in steady state. */
export interface RunningNode {
  readonly boot: BootResult;
  /** The BOOT_CONFIG entry's sequence once journaled; undefined if it never was. */
  readonly recorded: Promise<number | undefined>;
  /** Stops journaling retries and every service (reverse start order). */
  shutdown(): Promise<void>;
}

/** Boots the node; throws BootFailed (phases so far) or a PactError before any phase. */
export async function runBoot(options: RunBootOptions): Promise<RunningNode> {
  const log = options.log ?? ((line: string) => console.error(line));
  const token = options.token ?? await tokenFrom(options.env);
  let loaded: AgentConfig | undefined;
  const bootOptions: BootOptions = {
    loadConfig: async () =>
      loaded = await resolveAgentConfig(options.flags, options.env, () => Deno.hostname()),
    token,
    hostOf: hostFor,
    appliersOf: (config, host) =>
      config.hostRoot === "/" ? linuxAppliers() : sandboxAppliers(config.hostRoot, host),
    cgroupsOf: (config) => cgroupsFor(config, options.cgroupRoot),
    readTls: readJournalTls,
    identityOf: (config) => identityFor(config, log),
    stateDir: options.stateDir ?? DEFAULT_STATE_DIR,
    readyPath: options.readyPath ?? DEFAULT_READY_PATH,
    logDir: DEFAULT_LOG_DIR,
    journalWaitMs: options.journalWaitMs ?? DEFAULT_JOURNAL_WAIT_MS,
    attemptTimeoutMs: 5_000,
    spawner: new DenoSpawner(),
    timers: realTimers,
    clock: systemClock,
    monotonic: () => performance.now(),
    startedMs: options.startedMs ?? 0,
    onServiceEvent: (e) => {
      log(`service: ${e.service} ${e.action}${e.detail === "" ? "" : `: ${e.detail}`}`);
      options.onServiceEvent?.(e);
    },
    log,
  };
  const bootId = crypto.randomUUID().slice(0, 8);
  let boot: BootResult;
  try {
    boot = await bootNode(bootOptions);
  } catch (err) {
    if (err instanceof BootFailed && loaded !== undefined && token !== undefined) {
      // Best effort, once: a journal that refused or is down will not take it either.
      const clients = await appendersFor(loaded, await agentCredentials(loaded, token, undefined));
      await journalBootRecord(clients, bootEntry(loaded.nodeId, err.record, bootId), {
        attemptsMax: 1,
        retryIntervalMs: 0,
        log,
      });
      clients.forEach((c) => c.close());
    }
    throw err;
  }
  log(`boot: ready in ${boot.record.totalMs} ms (config from ${boot.source})`);
  const abort = new AbortController();
  const clients = await appendersFor(
    boot.config,
    await agentCredentials(boot.config, token, boot.identity),
  );
  const recorded = journalBootRecord(clients, bootEntry(boot.config.nodeId, boot.record, bootId), {
    attemptsMax: options.recordAttemptsMax ?? 30,
    retryIntervalMs: 2_000,
    log,
    signal: abort.signal,
  }).then((sequence) => {
    if (sequence !== undefined) log(`boot: boot record journaled as seq:${sequence}`);
    return sequence;
  }).finally(() => clients.forEach((c) => c.close()));
  return {
    boot,
    recorded,
    async shutdown() {
      abort.abort();
      await recorded;
      await boot.capability.stop();
      await boot.services.stopAll();
    },
  };
}

function hostFor(config: AgentConfig): Host {
  return config.hostRoot === "/" ? linuxHost() : sandboxHost(config.hostRoot);
}

async function cgroupsFor(config: AgentConfig, root: string | null | undefined) {
  if (root === null) return undefined;
  if (root !== undefined) return new CgroupV2(root);
  if (config.hostRoot !== "/") return new CgroupV2(`${config.hostRoot}/sys/fs/cgroup`);
  // Only a unified (v2) hierarchy: on cgroup v1 services stay in the agent's cgroup.
  const v2 = await Deno.stat("/sys/fs/cgroup/cgroup.controllers").then(() => true, () => false);
  return v2 ? new CgroupV2("/sys/fs/cgroup") : undefined;
}

async function tokenFrom(env: EnvReader): Promise<string | undefined> {
  const token = env("PACT_AGENT_TOKEN");
  if (token) return token.trim();
  const file = env("PACT_AGENT_TOKEN_FILE");
  return file ? (await Deno.readTextFile(file)).trim() : undefined;
}

type ClosableAppender = EntryAppender & { close(): void };

/** One connection per endpoint; loaded lazily so that a cache boot never waits on it. */
async function appendersFor(
  config: AgentConfig,
  credentials: AgentCredentials,
): Promise<ClosableAppender[]> {
  const connections = await Promise.all(
    config.journal.endpoints.map((endpoint) => JournalConnection.open([endpoint], credentials)),
  );
  return connections.filter((c) => c !== undefined).map((connection) => ({
    appendEntry: (request) => connection.client().appendEntry(request),
    close: () => connection.close(),
  }));
}

/**
 * What the agent authenticates to the journal with: its certificate when
 * it enrolled, its token, and the `[agent.journal] tls_*` files.
 */
export async function agentCredentials(
  config: AgentConfig,
  token: string | undefined,
  identity: AgentCredentials["identity"],
): Promise<AgentCredentials> {
  const tls = await readJournalTls(config);
  return { token, identity, ...(tls ? { tls } : {}) };
}

/** The `[agent.journal] tls_*` files, when `tls_enabled`. */
async function readJournalTls(config: AgentConfig): Promise<JournalTls | undefined> {
  return config.journal.tls && {
    ca: await Deno.readFile(config.journal.tls.ca),
    key: await Deno.readFile(config.journal.tls.key),
    cert: await Deno.readFile(config.journal.tls.cert),
  };
}

/**
 * The identity phase's work when `[agent.enrollment]` is configured: the
 * hardware identity from the host's `/sys`, the CA bundle, then a stored
 * certificate still valid or Enroll over server-TLS.
 */
async function identityFor(
  config: AgentConfig,
  log: (line: string) => void,
): Promise<BootIdentity | undefined> {
  const enrollment = config.enrollment;
  if (!enrollment) return undefined;
  if (enrollment.caCert === undefined) {
    throw new PactError(
      "CONFIG",
      "[agent.enrollment] needs ca_cert: the CA bundle the journal's certificate chains to",
    );
  }
  const root = config.hostRoot === "/" ? "" : config.hostRoot.replace(/\/+$/, "");
  const { AgentIdentity, readHardwareIdentity, SpireWorkloadSource } = await import(
    "../identity/mod.ts"
  );
  const spire = spireOf(config, root, SpireWorkloadSource);
  const caBundlePem = await Deno.readTextFile(enrollment.caCert).catch((err) => {
    throw new PactError(
      "CONFIG",
      `[agent.enrollment] ca_cert ${enrollment.caCert}: ${(err as Error).message}`,
    );
  });
  const hardware = await readHardwareIdentity({
    dmiDir: `${root}/sys/class/dmi/id`,
    netDir: `${root}/sys/class/net`,
  });
  const endpoints = enrollment.journalEndpoints.length > 0
    ? enrollment.journalEndpoints
    : config.journal.endpoints;
  const identity = new AgentIdentity({
    endpoints: endpoints.map(formatHostPort),
    caBundlePem,
    hardware,
    certDir: `${root}${enrollment.certDir}`,
    renewBeforeExpiryMs: enrollment.renewalBeforeExpirySeconds === undefined
      ? undefined
      : enrollment.renewalBeforeExpirySeconds * 1000,
    spire,
  });
  let enrolled = false;
  const stopListening = identity.onChange(() => (enrolled = true));
  let held;
  try {
    held = await identity.start();
  } catch (err) {
    if (isPactError(err) && (err.code === "UNAVAILABLE" || err.code === "TIMEOUT")) {
      throw new BootError("JOURNAL_UNREACHABLE", "UNAVAILABLE", `Enrollment: ${err.message}`);
    }
    if (isPactError(err)) {
      throw new BootError("JOURNAL_REFUSED", err.code, `Enrollment refused: ${err.message}`);
    }
    throw err;
  } finally {
    stopListening();
  }
  log(
    held.source === "spire"
      ? `identity: node ${held.nodeId} holds SPIRE SVID ${held.serial}`
      : `identity: node ${held.nodeId} holds certificate ${held.serial}`,
  );
  return {
    identity,
    tls: {
      ca: new TextEncoder().encode(caBundlePem),
      key: new TextEncoder().encode(held.keyPem),
      cert: new TextEncoder().encode(held.certPem),
      serverName: identity.channelOptions()["grpc.ssl_target_name_override"] as string,
    },
    detail: `${
      held.source === "spire" ? "SPIRE SVID:" : enrolled ? "enrolled:" : "reused stored"
    } certificate ${held.serial} for node ${held.nodeId} (vCluster ${
      held.vclusterId || "none"
    }), valid until ${new Date(held.notAfterMs).toISOString()}`,
  };
}

/**
 * The SPIRE provider of the identity cascade: `[agent.identity] provider =
 * "spire"` (the default) asks the Workload API on `spire_socket` (under the
 * sandbox root in tests) before enrolling; `"journal"` enrolls only.
 */
function spireOf(
  config: AgentConfig,
  root: string,
  Source: typeof import("../identity/mod.ts").SpireWorkloadSource,
) {
  const { provider, spireSocket } = config.identity;
  if (provider === "journal") return undefined;
  if (provider !== "spire") {
    throw new PactError(
      "CONFIG",
      `Invalid [agent.identity] provider ${JSON.stringify(provider)} (use spire, journal)`,
    );
  }
  return new Source(`${root}${spireSocket}`);
}

/**
 * Boots the node as the command line asks (the boot runner's and
 * pact-agent's shared start); on failure prints the one-line reason and
 * returns the exit code.
 */
export async function bootFromArgs(
  args: RunArgs,
  extra: Pick<RunBootOptions, "token" | "onServiceEvent"> = {},
): Promise<RunningNode | number> {
  const env: EnvReader = (name) => Deno.env.get(name);
  try {
    return await runBoot({
      flags: args.flags,
      env,
      token: extra.token ??
        (args.tokenFile === undefined
          ? undefined
          : (await Deno.readTextFile(args.tokenFile)).trim()),
      onServiceEvent: extra.onServiceEvent,
      readyPath: args.readyPath,
      stateDir: args.stateDir,
      journalWaitMs: args.journalWaitMs,
    });
  } catch (err) {
    if (!isPactError(err) && !(err instanceof BootFailed)) throw err;
    console.error(`pact-agent: ${(err as Error).message}`);
    const cause = err instanceof BootFailed ? err.cause : err;
    return isPactError(cause) ? exitCodeFor(cause.code) : 1;
  }
}

/** `run_boot.ts --config <agent.toml> ...`: boot, then run until SIGTERM/SIGINT. */
async function main(args: RunArgs): Promise<number> {
  // Handlers first: a signal during boot must stop the services, not kill the agent.
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  for (const signal of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(signal, stop);
  const node = await bootFromArgs(args);
  if (typeof node === "number") return node;
  await stopped;
  console.error("pact-agent: stopping services");
  await node.shutdown();
  return 0;
}

if (import.meta.main) {
  const parsed = parseRunArgs(Deno.args);
  if (typeof parsed === "string") {
    console.error(parsed === USAGE ? USAGE : `pact-agent: ${parsed}\n(see --help)`);
    Deno.exit(parsed === USAGE ? 0 : 2);
  }
  Deno.exit(await main(parsed));
}
