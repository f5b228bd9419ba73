/**
 * The agent's live subscription to the journal (reference §2.2): after
 * boot it follows SubscribeConfigUpdates for its node and applies what
 * concerns the drift loop while the node runs:
 *
 * - a node-scoped Commit written by an admin (`pact commit`, or an
 *   approved one) accepts the drift: the evaluator gets a `commit` event
 *   for the keys its StateDelta names (all drift when it has none), those
 *   keys are declared from then on, and the window closes once no drift is
 *   left. A commit the agent already applied when it appended it changes
 *   nothing the second time;
 * - a policy update of the node's vCluster refreshes the evaluator's
 *   settings (`setPolicy`: mode, windows, weights, emergency_allowed...);
 * - a blacklist change (`pact blacklist add|remove`, node, vCluster or
 *   global) replaces the drift exclusions: the configured or policy
 *   patterns plus the journal's additions, minus its removals, in order;
 * - a Commit or Rollback of the node's vCluster overlay (StateDelta or
 *   DeclaredState payload) changes declared keys: the agent applies those
 *   the node did not change locally and raises a merge conflict for those
 *   it changed to another value (`NodeAgent.journalChanged`, §2.19 CR2).
 *
 * The first connection starts at the journal's head (older commits were
 * part of the boot's node delta); the blacklist history is read once with
 * ListEntries. On a dropped stream it reconnects with exponential backoff
 * (1 s, doubling, capped at 60 s, at most 100 attempts in a row) and
 * resumes from the last sequence it processed, so a journal restart loses
 * nothing; updates already seen are skipped (delivery is at-least-once).
 */
import { fromProtoScope } from "../../shared/domain/scope.ts";
import { isPactError } from "../../shared/errors/mod.ts";
import {
  type ConfigEntry,
  DeltaAction,
  EntryType,
  PrincipalType,
  UpdateKind,
} from "../../shared/proto/gen/pact/config/config.ts";
import type { ListEntriesRequest } from "../../shared/proto/gen/pact/journal/journal.ts";
import type { ConfigUpdate, SubscribeRequest } from "../../shared/proto/gen/pact/stream/stream.ts";
import { type Backoff, backoffDelayMs } from "../../shared/backoff.ts";
import { SERVICE_AGENT } from "../../shared/domain/roles.ts";
import type { Step } from "../drift/evaluator.ts";
import { driftKeysOf } from "../drift/commit_delta.ts";
import type { NodeAgent } from "../node_agent.ts";

/** The journal calls the follower makes (a JournalClient satisfies it). */
export interface UpdatesApi {
  subscribe(request: Partial<SubscribeRequest>, signal: AbortSignal): AsyncIterable<ConfigUpdate>;
  listEntries(request: Partial<ListEntriesRequest>): Promise<ConfigEntry[]>;
}

/** Reconnection timing (reference: 1 s base, x2, 60 s cap, 100 attempts). */
export type { Backoff };

export const DEFAULT_BACKOFF: Backoff = { baseMs: 1_000, maxMs: 60_000, attempts: 100 };

/** What the follower needs. */
export interface JournalFollowerOptions {
  readonly nodeId: string;
  readonly vcluster: string | undefined;
  /** The current journal client (it may change when the agent's certificate rotates). */
  readonly journal: () => UpdatesApi;
  readonly agent: Pick<
    NodeAgent,
    "send" | "setPolicy" | "setBlacklist" | "state" | "journalChanged"
  >;
  readonly backoff?: Backoff;
  readonly log: (line: string) => void;
  /** Also hears every entry delivered, once, in order (e.g. the agent's policy cache). */
  readonly onEntry?: ((entry: ConfigEntry) => void) | undefined;
}

/** One blacklist change from the journal, in order. */
interface BlacklistOp {
  readonly sequence: number;
  readonly add: readonly string[];
  readonly remove: readonly string[];
}

/** Follows the node's config updates until stopped. */
export class JournalFollower {
  readonly #options: JournalFollowerOptions;
  readonly #abort = new AbortController();
  #running: Promise<void> | undefined;
  /** The next sequence to process; undefined until the first update names the head. */
  #next: number | undefined;
  /** Blacklist patterns from agent.toml or the vCluster policy, before the journal's changes. */
  #baseBlacklist: readonly string[];
  readonly #blacklistOps = new Map<number, BlacklistOp>();
  /** Sequences of the updates applied, in order (for tests and status). */
  readonly applied: number[] = [];

  constructor(options: JournalFollowerOptions) {
    this.#options = options;
    this.#baseBlacklist = options.agent.state.settings.blacklist.patterns;
  }

  /** The next sequence the follower will ask for. */
  get nextSequence(): number | undefined {
    return this.#next;
  }

  /** Starts following in the background. */
  start(): void {
    this.#running ??= this.#run();
  }

  /** Stops following and waits for the loop to end. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#running;
  }

  async #run(): Promise<void> {
    const { log } = this.#options;
    const backoff = this.#options.backoff ?? DEFAULT_BACKOFF;
    const signal = this.#abort.signal;
    let attempt = 0;
    let historyRead = false;
    while (!signal.aborted) {
      try {
        const journal = this.#options.journal();
        const updates = journal.subscribe(
          this.#next === undefined
            ? { nodeId: this.#options.nodeId, fromHead: true }
            : { nodeId: this.#options.nodeId, fromSequence: this.#next },
          signal,
        );
        if (!historyRead) {
          historyRead = await this.#readBlacklistHistory(journal);
        }
        for await (const update of updates) {
          attempt = 0;
          await this.#handle(update);
        }
        if (signal.aborted) return;
        throw new Error("the journal closed the subscription");
      } catch (err) {
        if (signal.aborted) return;
        attempt++;
        if (attempt > backoff.attempts) {
          log(
            `subscription: giving up after ${backoff.attempts} attempts: ${(err as Error).message}`,
          );
          return;
        }
        const delayMs = backoffDelayMs(attempt - 1, backoff.baseMs, backoff.maxMs);
        const from = this.#next === undefined ? "the head" : `seq:${this.#next}`;
        log(
          `subscription: ${
            (err as Error).message
          }; reconnecting in ${delayMs} ms from ${from} (attempt ${attempt})`,
        );
        await sleep(delayMs, signal);
      }
    }
  }

  async #handle(update: ConfigUpdate): Promise<void> {
    if (update.kind === UpdateKind.HEARTBEAT) {
      // A heartbeat carries the journal's next sequence: nothing before it is missing.
      if (this.#next === undefined || update.sequence > this.#next) this.#next = update.sequence;
      return;
    }
    if (this.#next !== undefined && update.sequence < this.#next) return;
    this.#next = update.sequence + 1;
    const entry = update.entry;
    if (entry === undefined) return;
    this.#notify(entry);
    try {
      if (await this.#apply(entry)) this.applied.push(entry.sequence);
    } catch (err) {
      this.#options.log(
        `subscription: cannot apply seq:${entry.sequence} ${EntryType[entry.entryType]}: ${
          (err as Error).message
        }`,
      );
    }
  }

  /** Hands the entry to `onEntry`; a throwing listener is logged, not fatal. */
  #notify(entry: ConfigEntry): void {
    try {
      this.#options.onEntry?.(entry);
    } catch (err) {
      this.#options.log(`subscription: seq:${entry.sequence} listener: ${(err as Error).message}`);
    }
  }

  /** Applies one entry; false when it does not concern the drift loop. */
  async #apply(entry: ConfigEntry): Promise<boolean> {
    const { agent, nodeId, vcluster, log } = this.#options;
    const scope = fromProtoScope(entry.scope);
    switch (entry.entryType) {
      case EntryType.ROLLBACK:
      case EntryType.COMMIT: {
        if (scope?.kind === "vcluster" && scope.id === vcluster) {
          const changes = journalChangesOf(entry);
          if (changes.length === 0) return false;
          const result = await agent.journalChanged(entry.sequence, changes);
          const conflicts = result.state.conflicts?.size ?? 0;
          log(
            `subscription: overlay seq:${entry.sequence}: ${changes.length} key(s) changed, ${conflicts} merge conflict(s) open`,
          );
          return true;
        }
        if (entry.entryType !== EntryType.COMMIT) return false;
        if (scope?.kind !== "node" || scope.id !== nodeId) return false;
        // The agent never commits by itself; an agent-authored commit is not an admin's.
        if (entry.author?.role === SERVICE_AGENT) return false;
        const author = entry.author?.principal || "unknown";
        const payload = entry.payload;
        const keys = payload?.$case === "stateDelta" ? driftKeysOf(payload.value) : undefined;
        const result: Step = await agent.send(
          {
            type: "commit",
            author,
            message: entry.message,
            ...(keys === undefined ? {} : { keys }),
          },
          {
            ...(entry.author ? { author: entry.author } : { author: unknownAuthor() }),
            journaled: new Map([[EntryType.COMMIT, entry.sequence]]),
          },
        );
        log(
          result.error
            ? `subscription: commit seq:${entry.sequence} by ${author}: ${result.error.message}`
            : result.actions.length === 0
            ? `subscription: commit seq:${entry.sequence} by ${author}: already applied`
            : `subscription: commit seq:${entry.sequence} by ${author}: drift accepted (window ${result.state.window.kind})`,
        );
        return true;
      }
      case EntryType.POLICY_UPDATE: {
        const payload = entry.payload;
        if (payload?.$case !== "policy") return false;
        if (scope?.kind === "vcluster" && scope.id !== vcluster) return false;
        await agent.setPolicy(payload.value);
        this.#baseBlacklist = agent.state.settings.blacklist.patterns;
        if (this.#blacklistOps.size > 0) await this.#applyBlacklist();
        log(`subscription: policy seq:${entry.sequence} applied`);
        return true;
      }
      case EntryType.BLACKLIST_CHANGE: {
        if (!this.#concerns(entry)) return false;
        const payload = entry.payload;
        if (payload?.$case !== "blacklist") return false;
        this.#blacklistOps.set(entry.sequence, {
          sequence: entry.sequence,
          add: payload.value.add,
          remove: payload.value.remove,
        });
        const patterns = await this.#applyBlacklist();
        log(
          `subscription: blacklist seq:${entry.sequence} applied (${patterns.length} patterns)`,
        );
        return true;
      }
      default:
        return false;
    }
  }

  /** True for entries of this node, its vCluster, or global ones. */
  #concerns(entry: ConfigEntry): boolean {
    const scope = fromProtoScope(entry.scope);
    if (scope === undefined || scope.kind === "global") return true;
    if (scope.kind === "node") return scope.id === this.#options.nodeId;
    return scope.id === this.#options.vcluster;
  }

  async #applyBlacklist(): Promise<readonly string[]> {
    const patterns = effectiveBlacklist(
      this.#baseBlacklist,
      [...this.#blacklistOps.values()].sort((a, b) => a.sequence - b.sequence),
    );
    await this.#options.agent.setBlacklist(patterns);
    return patterns;
  }

  /** Reads earlier blacklist changes; false (retried on reconnect) when the journal refuses. */
  async #readBlacklistHistory(journal: UpdatesApi): Promise<boolean> {
    try {
      const entries = await journal.listEntries({ entryTypes: [EntryType.BLACKLIST_CHANGE] });
      let changed = false;
      for (const entry of entries) {
        if (!this.#concerns(entry) || entry.payload?.$case !== "blacklist") continue;
        if (this.#blacklistOps.has(entry.sequence)) continue;
        this.#blacklistOps.set(entry.sequence, {
          sequence: entry.sequence,
          add: entry.payload.value.add,
          remove: entry.payload.value.remove,
        });
        changed = true;
      }
      if (changed) await this.#applyBlacklist();
      return true;
    } catch (err) {
      if (!isPactError(err)) throw err;
      this.#options.log(`subscription: cannot read the blacklist history: ${err.message}`);
      return false;
    }
  }
}

/** `base` with each change applied in order: additions appended once, removals dropped. */
export function effectiveBlacklist(
  base: readonly string[],
  ops: readonly { readonly add: readonly string[]; readonly remove: readonly string[] }[],
): string[] {
  const patterns = [...base];
  for (const op of ops) {
    for (const pattern of op.add) if (!patterns.includes(pattern)) patterns.push(pattern);
    for (const pattern of op.remove) {
      const at = patterns.indexOf(pattern);
      if (at >= 0) patterns.splice(at, 1);
    }
  }
  return patterns;
}

/**
 * The keys an overlay Commit or Rollback sets, with their new values:
 * sysctls (by value) and files (by content hash). Removals and other
 * dimensions are not compared yet.
 */
export function journalChangesOf(
  entry: ConfigEntry,
): { dimension: "kernel" | "files"; key: string; journalValue: string }[] {
  const payload = entry.payload;
  const changes: { dimension: "kernel" | "files"; key: string; journalValue: string }[] = [];
  if (payload?.$case === "stateDelta") {
    for (const item of payload.value.kernel) {
      if (item.action === DeltaAction.REMOVE || item.key.startsWith("module:")) continue;
      changes.push({ dimension: "kernel", key: item.key, journalValue: item.declaredValue });
    }
    for (const item of payload.value.files) {
      if (item.action === DeltaAction.REMOVE || item.contentHash === "") continue;
      const hash = item.contentHash.startsWith("sha256:")
        ? item.contentHash
        : `sha256:${item.contentHash}`;
      changes.push({ dimension: "files", key: item.path, journalValue: hash });
    }
  } else if (payload?.$case === "declared") {
    for (const [key, value] of Object.entries(payload.value.sysctl)) {
      changes.push({ dimension: "kernel", key, journalValue: value });
    }
  }
  return changes;
}

function unknownAuthor() {
  return { principal: "unknown", principalType: PrincipalType.UNSPECIFIED, role: "" };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
