/**
 * The quorum phases of the benchmark: a real 3-journal quorum on etcd
 * (three `bin/pact-journal` processes, each running its etcd member on
 * loopback), its write path beside raw etcd, a boot storm beside etcd
 * serving the same overlay, and the failover of the etcd leader.
 */
import type { Etcd3 } from "etcd3";
import { JournalClient } from "../../cli/client/journal_client.ts";
import { connectEtcd } from "../../journal/store/etcd_store.ts";
import type { JournalProcess } from "../harness/journal_process.ts";
import { JournalQuorum } from "../harness/journal_quorum.ts";
import {
  type BootCounts,
  bootLatency,
  type BootStormResults,
  bootStorms,
  prepareBoot,
} from "./boot_storm.ts";
import type { JournalTarget } from "./journal_load.ts";
import { failover, type FailoverCounts, type FailoverResult } from "./quorum_failover.ts";
import { type QuorumWriteCounts, type QuorumWriteResults, quorumWrites } from "./quorum_writes.ts";

/**
 * The quorum phases, in the order they run: the boot storms on a short log,
 * then the write path (after which a few single boots show that a long log
 * costs a boot nothing: node deltas are held in memory), and the failover
 * last, because it kills a member.
 */
export const QUORUM_PHASES = ["boot", "quorum-writes", "failover"] as const;
export type QuorumPhase = typeof QUORUM_PHASES[number];

/** How much work each quorum phase does. */
export interface QuorumCounts {
  readonly writes: QuorumWriteCounts;
  readonly boot: BootCounts;
  readonly failover: FailoverCounts;
}

/** What the quorum phases measured; a phase not run is absent. */
export interface QuorumResults {
  readonly members: number;
  /** Time to start the quorum (node 1 bootstraps, the others join), ms. */
  readonly startMs: number;
  readonly writes?: QuorumWriteResults;
  readonly boot?: BootStormResults;
  readonly failover?: FailoverResult;
  /** Time for the graceful shutdown of every journal (SIGTERM, leader first), ms. */
  readonly stopMs: number;
}

const MEMBERS = 3;

/** A quorum that has formed, and how long that took. */
export interface StartedQuorum {
  readonly quorum: JournalQuorum;
  readonly startMs: number;
}

/** Starts the quorum (node 1 bootstraps, the others join). */
export async function startQuorum(log: (message: string) => void): Promise<StartedQuorum> {
  log(`quorum: starting ${MEMBERS} journals with their etcd members`);
  const started = performance.now();
  const quorum = await JournalQuorum.start(MEMBERS);
  const startMs = performance.now() - started;
  log(`quorum: formed in ${(startMs / 1000).toFixed(1)} s`);
  return { quorum, startMs };
}

/** Runs the selected phases on a started quorum, then stops it; always cleans up. */
export async function quorumPhases(
  { quorum, startMs }: StartedQuorum,
  counts: QuorumCounts,
  phases: ReadonlySet<QuorumPhase>,
  log: (message: string) => void,
): Promise<QuorumResults> {
  let stopped = false;
  try {
    const results = await withQuorum(quorum, counts, phases, log);
    log("quorum: stopping the journals (SIGTERM, leader first)");
    const stopping = performance.now();
    await stopGracefully(quorum, log);
    stopped = true;
    return { members: MEMBERS, startMs, ...results, stopMs: performance.now() - stopping };
  } catch (err) {
    if (!stopped) {
      for (const [i, journal] of quorum.journals.entries()) {
        if (journal) log(`journal ${i + 1} log (last 40 lines):\n${tail(journal.log, 40)}`);
      }
    }
    throw err;
  } finally {
    await quorum.dispose();
  }
}

async function withQuorum(
  quorum: JournalQuorum,
  counts: QuorumCounts,
  phases: ReadonlySet<QuorumPhase>,
  log: (message: string) => void,
): Promise<Omit<QuorumResults, "members" | "startMs" | "stopMs">> {
  await using stack = new AsyncDisposableStack();
  const connections = stack.use(new DisposableStack());
  const journals = quorum.members.map((_, i) => quorum.journal(i));
  const token = await journals[0]!.token();
  const targets: JournalTarget[] = journals.map((j) => ({
    endpoint: j.endpoint,
    httpUrl: j.httpUrl,
    token,
    connections,
  }));
  const etcdUrls = quorum.members.map((m) => `http://127.0.0.1:${m.grpc + 2}`);
  const etcd: Etcd3 = connectEtcd({ endpoints: etcdUrls });
  stack.defer(() => etcd.close());

  const setup = phases.has("boot")
    ? await prepareBoot(quorum, targets, etcd, counts.boot, log)
    : undefined;
  const boot = setup ? await bootStorms(quorum, targets, etcd, setup, counts.boot, log) : undefined;
  const writes = phases.has("quorum-writes")
    ? await quorumWrites(targets, etcd, etcdUrls, counts.writes, log)
    : undefined;
  if (boot && writes) {
    const after = await bootLatency(setup!, targets[0]!, journals[0]!.grpcAddress, 5, "after");
    log(
      `boot: one boot takes ${after.withNodeIdMs.toFixed(0)} ms ` +
        `(${
          after.overlayOnlyMs.toFixed(0)
        } ms without node id) at a log of ${after.logEntries} entries`,
    );
    boot.latency.push(after);
  }
  const fail = phases.has("failover")
    ? await failover(quorum, targets, counts.failover, log)
    : undefined;
  return {
    ...(writes ? { writes } : {}),
    ...(boot ? { boot } : {}),
    ...(fail ? { failover: fail } : {}),
  };
}

/**
 * Stops every journal with SIGTERM, one at a time, the current etcd leader
 * first: a leader hands its leadership to a connected peer before it exits,
 * which is quick while a peer runs (stopping them all at once can leave a
 * leader waiting etcd's full request timeout, ~7 s, for a transfer to a
 * peer that is going away). Throws unless every journal exits 0.
 */
async function stopGracefully(quorum: JournalQuorum, log: (message: string) => void) {
  const failures: string[] = [];
  while (true) {
    const running = quorum.journals.flatMap((j, i) => (j ? [{ j, i }] : []));
    if (running.length === 0) break;
    const leader = running.length > 1 ? await leaderIndex(quorum, running.map((r) => r.j)) : -1;
    const next = running.find((r) => r.i === leader) ?? running[0]!;
    const t0 = performance.now();
    const status = await next.j.stop();
    log(`quorum: journal ${next.i + 1} stopped in ${(performance.now() - t0).toFixed(0)} ms`);
    if (status.code !== 0) {
      failures.push(`journal ${next.i + 1} exited with ${status.code}:\n${tail(next.j.log, 40)}`);
    }
    quorum.journals[next.i] = undefined;
  }
  if (failures.length > 0) throw new Error(`quorum shutdown failed:\n${failures.join("\n")}`);
}

/** Index of the member whose etcd leads, asked of any running journal; -1 if unknown. */
async function leaderIndex(quorum: JournalQuorum, running: JournalProcess[]): Promise<number> {
  for (const journal of running) {
    const client = new JournalClient({
      endpoint: journal.endpoint,
      token: await journal.token(),
      timeoutSeconds: 3,
    });
    try {
      const status = await client.getClusterStatus();
      const leader = status.members.find((m) => m.isLeader);
      if (leader) return quorum.members.findIndex((m) => m.id === leader.id);
    } catch {
      /* ask the next one */
    } finally {
      client.close();
    }
  }
  return -1;
}

function tail(text: string, lines: number): string {
  return text.split("\n").slice(-lines).join("\n");
}
