/**
 * The agent's drift loop: observers feed the evaluator, and this driver
 * carries out the evaluator's actions (journal entries, rollback through
 * the host port, alerts). Every event and command goes through one queue,
 * so the pure state machine sees them one at a time, in order.
 */
import type { Clock } from "../shared/clock/clock.ts";
import { EntryType } from "../shared/proto/gen/pact/config/config.ts";
import type { ConfigEntry, Identity } from "../shared/proto/gen/pact/config/config.ts";
import type { AgentConfig } from "./config.ts";
import type { Host } from "./host/host.ts";
import { agentEntry, conflictEntry } from "./drift/drift_entries.ts";
import {
  type DriftItem,
  type EvaluatorAction,
  type EvaluatorEvent,
  type EvaluatorState,
  initialState,
  type JournalChange,
  type RollbackTrigger,
  type Step,
  step,
} from "./drift/evaluator.ts";
import { rollBack, type RollbackOutcome, StateMemory } from "./drift/rollback.ts";
import { settingsFromConfig, settingsFromPolicy } from "./drift/policy_settings.ts";
import { declaredTargets, diffDeclared } from "./drift/declared.ts";
import type { DeclaredState, VClusterPolicy } from "../shared/proto/gen/pact/config/config.ts";
import { FileObserver, type Interval, realInterval } from "./observe/file_observer.ts";
import { ProbeObserver } from "./observe/probe_observer.ts";
import { NetlinkObserver } from "./observe/netlink_observer.ts";
import type { ObserverEvent } from "./observe/observer_event.ts";
import { Blacklist } from "./drift/blacklist.ts";

/**
 * Who asked for a command (pact rollback, extend, emergency, commit): the
 * entries the command journals name them as author (the journal keeps an
 * agent's author field), and entries the caller already journaled itself
 * are not appended again.
 */
export interface CommandCaller {
  readonly author: Identity;
  /** Sequences of entries already in the journal for this command, by entry type. */
  readonly journaled?: ReadonlyMap<EntryType, number>;
}

/** The last rollback the agent carried out, for the shell's Rollback answer. */
export interface RollbackRecord {
  readonly trigger: RollbackTrigger;
  readonly restored: readonly DriftItem[];
  readonly skipped: readonly { readonly item: DriftItem; readonly reason: string }[];
  readonly consumers: readonly string[];
  readonly atMs: number;
}

/** Where the agent appends entries: the journal, or a test's list. */
export interface EntrySink {
  append(entry: ConfigEntry): Promise<number>;
}

/** Options of a NodeAgent. */
export interface NodeAgentOptions {
  readonly config: AgentConfig;
  readonly host: Host;
  readonly journal: EntrySink;
  readonly clock: Clock;
  /** Declared files and directories, besides `watch_paths` and the declared state's files. */
  readonly declaredPaths?: readonly string[];
  /** Sysctl keys to follow, besides the declared state's. */
  readonly sysctlKeys?: readonly string[];
  /**
   * The node's declared state (overlay + node delta). Its files and sysctls
   * are followed, differences at start are drift, and rollback restores
   * its content and values. Without it the baseline is the node at start.
   */
  readonly declared?: DeclaredState;
  /**
   * Follow `ip monitor` for network changes (real Linux hosts with
   * `netlink_enabled`); the sandbox relies on the periodic probe.
   */
  readonly netlink?: boolean;
  /** How often windows are checked for expiry (reference: 10 s). */
  readonly tickIntervalMs?: number;
  readonly interval?: Interval;
  readonly log?: (line: string) => void;
}

/** One node's drift detection, commit windows and rollback. */
export class NodeAgent {
  readonly #options: NodeAgentOptions;
  readonly #files: FileObserver;
  readonly #probes: ProbeObserver;
  readonly #netlink: NetlinkObserver | undefined;
  readonly #memory = new StateMemory();
  readonly #paths: readonly string[];
  readonly #sysctlKeys: readonly string[];
  #state: EvaluatorState;
  #queue: Promise<unknown> = Promise.resolve();
  #stopTick: (() => void) | undefined;
  /** Journal sequences of appended entries, in order (for status and tests). */
  readonly appended: number[] = [];
  #caller: CommandCaller | undefined;
  #lastRollback: RollbackRecord | undefined;

  constructor(options: NodeAgentOptions) {
    this.#options = options;
    const { config, host, clock } = options;
    const targets = options.declared === undefined
      ? { files: [], sysctlKeys: [] }
      : declaredTargets(options.declared);
    this.#paths = [
      ...new Set([
        ...config.observer.watchPaths,
        ...(options.declaredPaths ?? []),
        ...targets.files,
      ]),
    ];
    this.#sysctlKeys = [...new Set([...(options.sysctlKeys ?? []), ...targets.sysctlKeys])];
    this.#state = initialState(settingsFromConfig(config));
    const emit = (event: ObserverEvent) => void this.send({ type: "observed", event });
    const interval = options.interval ?? realInterval;
    this.#files = new FileObserver({
      files: host.files,
      paths: this.#paths,
      clock,
      emit,
      sweepIntervalMs: config.observer.hashSweepIntervalMs,
      inotify: config.observer.inotifyEnabled,
      interval,
    });
    this.#probes = new ProbeObserver({
      host,
      clock,
      emit,
      sysctlKeys: this.#sysctlKeys,
      intervalMs: config.observer.probeIntervalMs,
      network: config.observer.netlinkEnabled,
      interval,
    });
    this.#netlink = options.netlink && config.observer.netlinkEnabled
      ? new NetlinkObserver({ probes: this.#probes })
      : undefined;
  }

  /** The evaluator's current state. */
  get state(): EvaluatorState {
    return this.#state;
  }

  /** Remembers the node's state, then starts observers and the expiry tick. */
  async start(): Promise<void> {
    const { host, declared, clock } = this.#options;
    await this.#memory.capture(host, await this.#trackedFiles(), this.#sysctlKeys);
    if (declared !== undefined) this.#memory.seed(declared);
    await this.#files.start();
    await this.#probes.start();
    if (declared !== undefined) {
      for (const event of await diffDeclared(host, declared, clock.now())) {
        void this.send({ type: "observed", event });
      }
      await this.#queue;
    }
    await this.#netlink?.start();
    this.#stopTick = (this.#options.interval ?? realInterval)(
      () => void this.send({ type: "tick" }),
      this.#options.tickIntervalMs ?? 10_000,
    );
  }

  /** Stops observers and the tick, then waits for queued work. */
  async stop(): Promise<void> {
    this.#stopTick?.();
    await this.#netlink?.stop();
    await this.#files.stop();
    await this.#probes.stop();
    await this.#queue;
  }

  /** Applies the node's vCluster policy (from boot or a subscription update). */
  setPolicy(policy: VClusterPolicy): Promise<Step> {
    return this.send({
      type: "settings",
      settings: settingsFromPolicy(this.#options.config, policy),
    });
  }

  /** Runs a hash sweep and a probe now (instead of waiting for their periods). */
  async observeNow(): Promise<void> {
    await this.#files.sweep();
    await this.#probes.probe();
    await this.#queue;
  }

  /** The node's id, vCluster and declared state (for `pact diff`). */
  get node(): {
    readonly nodeId: string;
    readonly vcluster: string | undefined;
    readonly declared: DeclaredState | undefined;
    readonly host: Host;
  } {
    const { config, declared, host } = this.#options;
    return { nodeId: config.nodeId, vcluster: config.vcluster, declared, host };
  }

  /** The last rollback carried out (by expiry, an admin or an emergency end). */
  get lastRollback(): RollbackRecord | undefined {
    return this.#lastRollback;
  }

  /** Where the host differs from the declared state now (empty without one). */
  async declaredDiff(): Promise<ObserverEvent[]> {
    const { host, declared, clock } = this.#options;
    return declared === undefined ? [] : await diffDeclared(host, declared, clock.now());
  }

  /**
   * Replaces the drift exclusions (a blacklist change from the journal);
   * the rest of the settings stay.
   */
  setBlacklist(patterns: readonly string[]): Promise<Step> {
    return this.send({
      type: "settings",
      settings: { ...this.#state.settings, blacklist: new Blacklist(patterns) },
    });
  }

  /**
   * The journal changed keys of this node (seq `sequence`): reads the
   * node's value of each, then lets the evaluator apply them or raise merge
   * conflicts (reference §2.19, CR2). Only sysctls can be applied by value;
   * other keys are compared and declared but not written.
   */
  async journalChanged(
    sequence: number,
    changes: readonly Omit<JournalChange, "localValue">[],
  ): Promise<Step> {
    const { host } = this.#options;
    const read: JournalChange[] = [];
    for (const change of changes) {
      let localValue: string | undefined;
      if (change.dimension === "kernel" && !change.key.startsWith("module:")) {
        localValue = await host.sysctl.get(change.key).catch(() => undefined);
      } else if (change.dimension === "files") {
        const hash = await host.files.hash(change.key).catch(() => undefined);
        localValue = hash === undefined ? undefined : `sha256:${hash}`;
      } else continue;
      read.push({ ...change, localValue });
    }
    return await this.send({ type: "journal_changed", sequence, changes: read });
  }

  /**
   * Feeds one event (or command) and carries out its actions; resolves with
   * the step. With a `caller`, the entries the step journals name them.
   */
  send(event: EvaluatorEvent, caller?: CommandCaller): Promise<Step> {
    const run = this.#queue.then(async () => {
      this.#caller = caller;
      try {
        const result = step(this.#state, event, this.#options.clock.now());
        this.#state = result.state;
        for (const action of result.actions) await this.#carryOut(action);
        return result;
      } finally {
        this.#caller = undefined;
      }
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #carryOut(action: EvaluatorAction): Promise<void> {
    const { nodeId } = this.#options.config;
    switch (action.type) {
      case "journal_drift":
        return await this.#append(agentEntry({
          nodeId,
          type: EntryType.DRIFT_DETECTED,
          message: `${action.item.dimension} ${action.item.key}: ${action.item.detail}`,
          items: [action.item],
          metadata: { source: action.item.source, magnitude: action.magnitude.toFixed(3) },
        }));
      case "warn":
        return this.#log(`warning: drift on ${action.item.key} (magnitude ${action.magnitude})`);
      case "window_opened":
      case "window_recomputed":
        return this.#log(
          `commit window ${action.type === "window_opened" ? "opened" : "recomputed"}: ${
            Math.round(action.windowSeconds)
          } s (magnitude ${action.magnitude.toFixed(3)})`,
        );
      case "window_extended":
        return this.#log(`commit window extended: ${action.secondsLeft} s left`);
      case "rollback":
        await this.#rollback(action.trigger, action.items);
        return;
      case "converge": {
        const outcome = await this.#rollback("admin", [action.item], true);
        if (outcome.restored.length === 0) {
          const why = outcome.consumers.join("; ") || outcome.skipped[0]?.reason || "unknown";
          return this.#log(`cannot auto-converge ${action.item.key}: ${why}`);
        }
        return await this.#append(agentEntry({
          nodeId,
          type: EntryType.AUTO_CONVERGE,
          message: `auto-converged ${action.item.dimension} ${action.item.key}`,
          items: [action.item],
        }));
      }
      case "journal_rollback":
        return await this.#append(agentEntry({
          nodeId,
          type: EntryType.ROLLBACK,
          message: action.ok
            ? `rolled back after ${action.trigger}`
            : `rollback refused: ${action.consumers.join("; ")}`,
          items: action.items,
          metadata: { trigger: action.trigger, ok: String(action.ok) },
        }));
      case "journal_commit":
        await this.#memory.commit(this.#options.host, action.items);
        return;
      case "alert":
        return this.#log(`alert ${action.kind}: ${action.detail}`);
      case "scheduling_hold":
        return this.#log(`scheduling hold requested: ${action.reason}`);
      case "declare_journal":
        return await this.#declareJournal(action.changes, action.apply);
      case "journal_conflict":
        this.#log(
          `${action.kind.replace("_", " ")}: ${
            action.conflicts.map((c) => `${c.dimension} ${c.key}`).join(", ")
          }${action.resolution === "" ? "" : ` (${action.resolution})`}`,
        );
        return await this.#append(conflictEntry({
          nodeId,
          kind: action.kind,
          resolution: action.resolution,
          conflicts: action.conflicts,
        }));
      case "journal_emergency_start":
        return await this.#append(agentEntry({
          nodeId,
          type: EntryType.EMERGENCY_START,
          message: action.reason,
          emergencyReason: action.reason,
          ttlSeconds: action.ttlSeconds,
        }));
      case "journal_emergency_end":
        return await this.#append(agentEntry({
          nodeId,
          type: EntryType.EMERGENCY_END,
          message: `emergency ended by ${action.admin}${action.forced ? " (forced)" : ""}`,
        }));
    }
  }

  /**
   * Restores `items` unless consumers hold them, re-reads the host so the
   * agent's own writes are not drift, and feeds the outcome back (not for
   * a converge, which the evaluator never recorded as drift).
   */
  async #rollback(
    trigger: RollbackTrigger,
    items: readonly DriftItem[],
    converge = false,
  ): Promise<RollbackOutcome> {
    const outcome = await rollBack(
      this.#options.host,
      this.#memory,
      items,
      (path, data) => this.#files.expect(path, data),
    );
    for (const { item, reason } of outcome.skipped) {
      this.#log(`cannot restore ${item.dimension} ${item.key}: ${reason}`);
    }
    if (!converge) {
      this.#lastRollback = {
        trigger,
        restored: outcome.restored,
        skipped: outcome.skipped,
        consumers: outcome.consumers,
        atMs: this.#options.clock.now(),
      };
    }
    await this.#files.rebaseline(
      outcome.restored.filter((i) => i.dimension === "files").map((i) => i.key),
    );
    await this.#probes.rebaseline();
    if (converge) return outcome;
    const result = step(this.#state, {
      type: "rollback_finished",
      trigger,
      items: outcome.consumers.length > 0 ? items : outcome.restored,
      consumers: outcome.consumers,
    }, this.#options.clock.now());
    this.#state = result.state;
    for (const action of result.actions) await this.#carryOut(action);
    return outcome;
  }

  /**
   * Takes the journal's values as declared (what a rollback restores) and,
   * with `apply`, writes them to the node; sysctls only (a file's journal
   * value is a content hash, not content).
   */
  async #declareJournal(changes: readonly JournalChange[], apply: boolean): Promise<void> {
    let applied = false;
    for (const change of changes) {
      if (change.dimension !== "kernel" || change.key.startsWith("module:")) {
        this.#log(`journal change of ${change.dimension} ${change.key}: not applied by value`);
        continue;
      }
      this.#memory.declareSysctl(change.key, change.journalValue);
      if (!apply || change.localValue === change.journalValue) continue;
      try {
        await this.#options.host.sysctl.set(change.key, change.journalValue);
        applied = true;
        this.#log(`applied the journal's ${change.key} = ${change.journalValue}`);
      } catch (err) {
        this.#log(`cannot apply the journal's ${change.key}: ${(err as Error).message}`);
      }
    }
    // The agent's own writes are not drift.
    if (applied) await this.#probes.rebaseline();
  }

  async #append(entry: ConfigEntry): Promise<void> {
    const caller = this.#caller;
    const already = caller?.journaled?.get(entry.entryType);
    if (already !== undefined) {
      this.appended.push(already);
      return;
    }
    if (caller !== undefined) entry = { ...entry, author: caller.author };
    try {
      this.appended.push(await this.#options.journal.append(entry));
    } catch (err) {
      // The journal being unreachable must not stop drift detection (A9).
      this.#log(`cannot journal ${EntryType[entry.entryType]}: ${(err as Error).message}`);
    }
  }

  async #trackedFiles(): Promise<string[]> {
    const files: string[] = [];
    for (const path of this.#paths) {
      const info = await Deno.stat(this.#options.host.files.realPath(path)).catch(() => undefined);
      if (!info?.isDirectory) files.push(path);
      else {
        for await (const entry of Deno.readDir(this.#options.host.files.realPath(path))) {
          if (entry.isFile) files.push(`${path}/${entry.name}`);
        }
      }
    }
    return files;
  }

  #log(line: string): void {
    (this.#options.log ?? console.error)(`pact-agent ${this.#options.config.nodeId}: ${line}`);
  }
}
