/**
 * pact-agent: the node agent. As PID 1 it first does phase 0 (agent/pid1:
 * signal handlers, pseudo-filesystems, OOM protection, hostname, watchdog).
 * It boots the node (agent/boot: config, identity — SPIRE SVID or journal
 * enrollment, then mTLS — overlay and node delta from the journal or the
 * cached config, apply, services, capability report, readiness), then
 * watches it for drift (NodeAgent: observers, commit windows, auto-rollback,
 * entries journaled through a durable queue), follows the journal's
 * subscription (commits, policy, blacklist), keeps its certificate renewed,
 * and serves ShellService on `[agent.shell] listen` (service, exec, shell,
 * diag, capability, drift commands; TLS with its certificate) until SIGTERM
 * or SIGINT, when it stops the services in reverse order.
 */
import { systemClock } from "../shared/clock/clock.ts";
import { PACT_VERSION } from "../shared/version.ts";
import {
  agentCredentials,
  bootFromArgs,
  DEFAULT_STATE_DIR,
  type RunningNode,
} from "./boot/run_boot.ts";
import { JournalConnection } from "./journal_connection.ts";
import { parseRunArgs, type RunArgs, USAGE } from "./boot/run_args.ts";
import { DurableQueueSink } from "./journal_queue.ts";
import { agentEntry } from "./drift/drift_entries.ts";
import { type ServiceEvent, toLifecycleRecord } from "./supervisor/events.ts";
import { type ConfigEntry, EntryType } from "../shared/proto/gen/pact/config/config.ts";
import { type EntrySink, NodeAgent } from "./node_agent.ts";
import { startShell } from "./shell/start.ts";
import { JournalFollower } from "./subscription/journal_updates.ts";
import { openNodePolicy } from "./policy/node_policy.ts";
import { catchUpPolicy } from "./policy/catch_up.ts";
import type { PolicyCache } from "./policy/policy_cache.ts";
import {
  bootWithRetries,
  EarlyMountError,
  libcInitCalls,
  type PhaseZero,
  runPhaseZero,
  startInit,
} from "./pid1/mod.ts";

/** The help text: the boot runner's options, under the agent's name. */
export const AGENT_USAGE = USAGE.replace("Usage: run_boot.ts", "Usage: pact-agent").replace(
  "and keeps its services running until SIGTERM.",
  "then watches it for drift and keeps its services running until SIGTERM.\n" +
    "As PID 1 it also reaps orphaned processes.",
);

async function main(args: RunArgs): Promise<number> {
  // Signal handlers first: a signal during boot must stop the services,
  // not kill the agent (and, as PID 1, the node).
  let phaseZero: PhaseZero | undefined;
  if (Deno.pid === 1) {
    startInit();
    try {
      phaseZero = await runPhaseZero({
        calls: libcInitCalls(),
        watchdogDevice: args.watchdogDevice,
        watchdogTimeoutSeconds: args.watchdogTimeoutSeconds,
        log: (line) => console.error(`pact-agent: ${line}`),
      });
    } catch (err) {
      if (!(err instanceof EarlyMountError)) throw err;
      console.error(`pact-agent: ${err.message}; cannot boot`);
      return 1;
    }
  }
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  for (const signal of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(signal, stop);
  const token = await agentToken(args.tokenFile, (name) => Deno.env.get(name));
  // Service events (start, exit, crash, restart...) are journaled as
  // SERVICE_LIFECYCLE entries once the journal queue is open; until then
  // (during the boot) they wait here.
  const lifecycle = new LifecycleJournal();
  // As PID 1 a failed boot is retried with backoff and never exits on its own.
  const node = await bootWithRetries(
    () => bootFromArgs(args, { token, onServiceEvent: (event) => lifecycle.record(event) }),
    {
      asInit: Deno.pid === 1,
      stopped,
      log: (line) => console.error(`pact-agent: ${line}`),
    },
  );
  if (typeof node === "number") {
    phaseZero?.watchdog?.disarm();
    return node;
  }
  const identityStop = new AbortController();
  const identityLoop = maintainIdentity(node, identityStop.signal);
  // The vCluster policy the shell enforces: live from the journal, saved for partitions.
  const policy = await openNodePolicy(
    node,
    args.stateDir ?? DEFAULT_STATE_DIR,
    systemClock,
    (line) => console.error(`pact-agent: ${line}`),
  );
  const drift = await startDriftWatch(node, args.stateDir ?? DEFAULT_STATE_DIR, token, policy);
  if (drift.journal) lifecycle.attach(node.boot.config.nodeId, drift.journal);
  // Capability changes are journaled, and reports show drift and emergency, from here on.
  node.boot.capability.attach({ journal: drift.journal, drift: () => drift.agent.state });
  const shell = await startShell({
    node,
    journal: drift.journal,
    agent: drift.agent,
    log: (line) => console.error(line),
  });
  await stopped;
  console.error("pact-agent: stopping");
  await shell?.shutdown(2_000);
  // Services first, so that their stop events still reach the journal queue.
  await node.shutdown();
  await drift.stop();
  identityStop.abort();
  await identityLoop;
  phaseZero?.watchdog?.disarm();
  return 0;
}

/** The observers, commit windows and rollback over the booted node. */
async function startDriftWatch(
  node: RunningNode,
  stateDir: string,
  token: string | undefined,
  policyCache: PolicyCache,
): Promise<
  { readonly journal: EntrySink | undefined; readonly agent: NodeAgent; stop(): Promise<void> }
> {
  const { config, host, declared, policy, identity } = node.boot;
  // With an enrolled identity every journal call uses the node's certificate (mTLS).
  const client = await JournalConnection.open(
    config.journal.endpoints,
    await agentCredentials(config, token, identity),
  );
  if (!client) {
    console.error(
      "pact-agent: no journal endpoint, agent token or enrollment: drift is handled but not journaled",
    );
  } else {
    console.error(`pact-agent: journal ${client.endpoint} (${client.describe})`);
  }
  const root = config.hostRoot === "/" ? "" : config.hostRoot.replace(/\/+$/, "");
  const queue = await DurableQueueSink.open({
    inner: client ?? { append: () => Promise.reject(new Error("no journal configured")) },
    path: `${root}${stateDir.replace(/\/+$/, "")}/journal-queue.jsonl`,
    onError: (message) => console.error(`pact-agent: journal queue: ${message}`),
  });
  const agent = new NodeAgent({
    config,
    host,
    journal: queue,
    clock: systemClock,
    declared,
    netlink: config.hostRoot === "/",
    log: (line) => console.error(line),
  });
  if (policy) agent.setPolicy(policy);
  await agent.start();
  // Admin commits, policy and blacklist changes reach the running agent.
  const follower = client
    ? new JournalFollower({
      nodeId: config.nodeId,
      vcluster: config.vcluster,
      journal: () => client.client(),
      agent,
      log: (line) => console.error(`pact-agent: ${line}`),
      onEntry: (entry) => void policyCache.apply(entry),
    })
    : undefined;
  follower?.start();
  const catchUp = new AbortController();
  const caughtUp = client
    ? catchUpPolicy(
      policyCache,
      () => client.client(),
      catchUp.signal,
      (line) => console.error(`pact-agent: ${line}`),
    )
    : Promise.resolve();
  return {
    journal: client ? queue : undefined,
    agent,
    async stop() {
      await follower?.stop();
      catchUp.abort();
      await caughtUp;
      await policyCache.flushed();
      await agent.stop();
      await queue.close();
      client?.close();
    },
  };
}

/**
 * Keeps the node's certificate fresh (renewal at 2/3 of its lifetime,
 * re-enrollment when the journal's CA changed) until `signal` aborts.
 */
function maintainIdentity(node: RunningNode, signal: AbortSignal): Promise<void> {
  const identity = node.boot.identity;
  if (!identity) return Promise.resolve();
  identity.onChange((change, held) =>
    console.error(
      `pact-agent: certificate ${change}: serial ${held.serial}, valid until ${
        new Date(held.notAfterMs).toISOString()
      }`,
    )
  );
  return identity.run(signal);
}

/** Journals service events; holds them until a journal sink is attached. */
class LifecycleJournal {
  #pending: ServiceEvent[] = [];
  #sink: { nodeId: string; journal: EntrySink } | undefined;

  record(event: ServiceEvent): void {
    if (this.#sink) this.#append(event);
    else if (this.#pending.length < 1000) this.#pending.push(event);
  }

  attach(nodeId: string, journal: EntrySink): void {
    this.#sink = { nodeId, journal };
    for (const event of this.#pending.splice(0)) this.#append(event);
  }

  #append(event: ServiceEvent): void {
    const { nodeId, journal } = this.#sink!;
    const entry: ConfigEntry = {
      ...agentEntry({
        nodeId,
        type: EntryType.SERVICE_LIFECYCLE,
        message: `${event.service} ${event.action}${event.detail ? `: ${event.detail}` : ""}`,
        metadata: { service: event.service, action: event.action },
      }),
      payload: { $case: "service", value: toLifecycleRecord(event) },
    };
    journal.append(entry).catch((err) =>
      console.error(`pact-agent: service event not journaled: ${(err as Error).message}`)
    );
  }
}

async function agentToken(
  tokenFile: string | undefined,
  env: (name: string) => string | undefined,
): Promise<string | undefined> {
  const file = tokenFile ?? env("PACT_AGENT_TOKEN_FILE");
  if (tokenFile === undefined && env("PACT_AGENT_TOKEN")) return env("PACT_AGENT_TOKEN")!.trim();
  return file ? (await Deno.readTextFile(file)).trim() : undefined;
}

if (import.meta.main) {
  if (Deno.args.includes("-V") || Deno.args.includes("--version")) {
    console.log(PACT_VERSION);
    Deno.exit(0);
  }
  const parsed = parseRunArgs(Deno.args);
  if (typeof parsed === "string") {
    if (parsed === USAGE) {
      console.log(AGENT_USAGE);
      Deno.exit(0);
    }
    console.error(`pact-agent: ${parsed}\n(see pact-agent --help)`);
    Deno.exit(2);
  }
  Deno.exit(await main(parsed));
}
