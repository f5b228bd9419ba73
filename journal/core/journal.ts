import { setImmediate } from "node:timers";
import { ConfigEntry } from "../../shared/proto/gen/pact/config/config.ts";
import type { Clock } from "../../shared/clock/clock.ts";
import { formatScope, type ScopeRef } from "../../shared/domain/scope.ts";
import { isPactError, PactError } from "../../shared/errors/mod.ts";
import type { SnapshotStore } from "../snapshot/port.ts";
import { applyEntry } from "../state/reduce.ts";
import { redactEntry } from "../state/redact.ts";
import { encodeSnapshot } from "../state/snapshot_codec.ts";
import type { JournalState } from "../state/state.ts";
import { validateEntry } from "../state/validate.ts";
import {
  type EntryRecord,
  type JournalStore,
  type ReadQuery,
  StoreConflictError,
} from "../store/port.ts";
import { recoverState } from "./recovery.ts";
import { scopeVersion } from "./scope_version.ts";
import { LiveQueue } from "./subscription.ts";

/** One append as a client asked for it. */
export interface AppendRequest {
  readonly entry: ConfigEntry;
  /** The scope version the write was computed against (optimistic concurrency). */
  readonly expectedScopeVersion?: number | undefined;
}

/** Where an append landed. */
export interface AppendResult {
  readonly sequence: number;
  /** Server timestamp; undefined for a duplicate of an earlier append. */
  readonly timestampMs: number | undefined;
  /** True when the request id matched an earlier append, which is returned. */
  readonly duplicate: boolean;
}

/** Callbacks for metrics and logs; none may throw. */
export interface JournalHooks {
  onCommitted?(entries: readonly ConfigEntry[], storeMs: number): void;
  onRejected?(error: PactError): void;
  onSnapshot?(nextSequence: number, bytes: number): void;
  onSnapshotFailed?(error: unknown): void;
  /** Reading other writers' entries from the store failed (store unreachable). */
  onCatchUpFailed?(error: unknown): void;
}

/** What a Journal is built from. Only `main.ts` wires real adapters. */
export interface JournalOptions {
  readonly store: JournalStore;
  readonly clock: Clock;
  readonly snapshots?: SnapshotStore | undefined;
  /** Entries between automatic snapshots; 0 disables them. Default 10000. */
  readonly snapshotInterval?: number;
  /** Most entries written in one store append. Default 1024. */
  readonly batchEntriesMax?: number;
  /** Most appends waiting for the store; more are refused. Default 65536. */
  readonly queueEntriesMax?: number;
  readonly hooks?: JournalHooks;
}

interface Pending {
  readonly request: AppendRequest;
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

interface Accepted {
  readonly pending: Pending;
  readonly entry: ConfigEntry;
  readonly record: EntryRecord | undefined;
  /** Set for a duplicate: the earlier sequence. */
  readonly duplicateOf: number | undefined;
}

/** Largest page read from the store at once during replay and catch-up. */
const READ_PAGE_ENTRIES = 1000;

/**
 * The journal's log and materialized state. Appends are validated against
 * the state, stamped with a gap-free sequence and the server time, written
 * to the store in batches (group commit), and only then applied to the
 * state, acknowledged and published to subscribers. Reads come from memory
 * (state) or the local store (entries).
 */
export class Journal {
  readonly #store: JournalStore;
  readonly #clock: Clock;
  readonly #snapshots: SnapshotStore | undefined;
  readonly #snapshotInterval: number;
  readonly #batchMax: number;
  readonly #batchBytesMax: number;
  readonly #queueMax: number;
  readonly #hooks: JournalHooks;
  readonly #subscribers = new Set<LiveQueue>();
  #state: JournalState;
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #closing = false;
  #snapshotSequence: number;
  #snapshotting: Promise<void> | undefined;
  /** Set when the store may hold entries this replica has not applied yet. */
  #catchUpWanted = false;
  #stopTailing: (() => void) | undefined;
  readonly #recovery: { readonly snapshotSequence: number; readonly replayedEntries: number };

  private constructor(options: JournalOptions, state: JournalState, snapshotSequence: number) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#snapshots = options.snapshots;
    this.#snapshotInterval = options.snapshotInterval ?? 10_000;
    this.#batchMax = Math.min(
      options.batchEntriesMax ?? 1024,
      options.store.limits?.maxBatchEntries ?? Infinity,
    );
    this.#batchBytesMax = options.store.limits?.maxBatchBytes ?? Infinity;
    this.#queueMax = options.queueEntriesMax ?? 65_536;
    this.#hooks = options.hooks ?? {};
    this.#state = state;
    this.#snapshotSequence = snapshotSequence;
    this.#recovery = { snapshotSequence, replayedEntries: state.nextSequence - snapshotSequence };
  }

  /** Restores the state (latest snapshot, then the store's tail) and opens the journal. */
  static async open(options: JournalOptions): Promise<Journal> {
    const { state, snapshotSequence } = await recoverState(options.store, options.snapshots);
    return new Journal(options, state, snapshotSequence);
  }

  /** The current committed state. Immutable: safe to hold while appends go on. */
  get state(): JournalState {
    return this.#state;
  }

  /** Which store backs this journal. */
  get storeKind(): string {
    return this.#store.kind;
  }

  /** Sequence of the newest snapshot this replica holds or restored from. */
  get snapshotSequence(): number {
    return this.#snapshotSequence;
  }

  /** How the state was rebuilt at open: the snapshot used and the entries replayed after it. */
  get recovery(): { readonly snapshotSequence: number; readonly replayedEntries: number } {
    return this.#recovery;
  }

  /** Number of subscribers currently attached. */
  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  /**
   * Follows writes made by other replicas of a shared store (etcd): each
   * time the store's head moves past this replica's state, the new entries
   * are read, applied and published to subscribers, in order with this
   * replica's own commits. No-op for a store only this process writes.
   * `onError` hears when the store's watch fails for good.
   */
  startTailing(onError: (error: Error) => void): void {
    if (!this.#store.watchHead || this.#stopTailing) return;
    this.#stopTailing = this.#store.watchHead(
      this.#state.nextSequence,
      (next) => {
        if (next > this.#state.nextSequence) this.#requestCatchUp();
      },
      onError,
    );
  }

  /** Appends one entry; resolves once it is durable. */
  append(request: AppendRequest): Promise<AppendResult> {
    if (this.#closing) {
      return Promise.reject(
        new PactError("UNAVAILABLE", "Journal is shutting down: retry on another replica"),
      );
    }
    if (this.#queue.length >= this.#queueMax) {
      return Promise.reject(
        new PactError(
          "RESOURCE_EXHAUSTED",
          `Journal write queue is full (${this.#queueMax} waiting): retry later`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ request, resolve, reject });
      this.#flushing ??= this.#flushLoop();
    });
  }

  /** Entries matching `query`, decoded, secrets redacted (see redact.ts). */
  async read(query: ReadQuery): Promise<ConfigEntry[]> {
    return (await this.#store.read(query)).map((r) => redactEntry(ConfigEntry.decode(r.data)));
  }

  /** One entry by sequence, or undefined. */
  async getEntry(sequence: number): Promise<ConfigEntry | undefined> {
    const [record] = await this.#store.read({
      fromSequence: sequence,
      toSequence: sequence,
      limit: 1,
    });
    return record && redactEntry(ConfigEntry.decode(record.data));
  }

  /**
   * Every entry from `fromSequence` on that passes `filter`: first those
   * already stored, then live ones as they commit, until `signal` aborts or
   * the journal closes. Throws RESOURCE_EXHAUSTED if the reader falls too
   * far behind.
   */
  async *subscribe(
    fromSequence: number,
    filter: (entry: ConfigEntry) => boolean,
    signal?: AbortSignal,
  ): AsyncGenerator<ConfigEntry> {
    const live = new LiveQueue();
    // Registering and reading the head happen in one synchronous step, so
    // every entry at or after `liveFrom` reaches the live queue.
    this.#subscribers.add(live);
    const liveFrom = this.#state.nextSequence;
    try {
      let next = fromSequence;
      while (next < liveFrom && !signal?.aborted) {
        const page = await this.#store.read({
          fromSequence: next,
          toSequence: liveFrom - 1,
          limit: READ_PAGE_ENTRIES,
        });
        if (page.length === 0) break;
        for (const record of page) {
          const entry = redactEntry(ConfigEntry.decode(record.data));
          if (filter(entry)) yield entry;
        }
        next = page[page.length - 1]!.sequence + 1;
      }
      while (!signal?.aborted) {
        const received = await live.next(signal);
        if (received === undefined) return;
        const entry = redactEntry(received);
        if (entry.sequence >= fromSequence && filter(entry)) yield entry;
      }
    } finally {
      this.#subscribers.delete(live);
    }
  }

  /**
   * Fails every live subscription with `reason` (e.g. UNAVAILABLE at
   * shutdown) so that subscribers reconnect, possibly to another replica.
   */
  disconnectSubscribers(reason: PactError): void {
    for (const live of this.#subscribers) live.fail(reason);
  }

  /** Saves a snapshot of the current state now. */
  async snapshot(): Promise<void> {
    await this.#snapshotting;
    await this.#takeSnapshot(this.#state);
  }

  /**
   * Refuses new appends, finishes the queued ones, ends subscriptions,
   * saves a final snapshot and closes the store.
   */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#stopTailing?.();
    await this.#flushing;
    for (const live of this.#subscribers) live.end();
    await this.#snapshotting;
    if (this.#snapshots && this.#state.nextSequence > this.#snapshotSequence) {
      await this.#takeSnapshot(this.#state);
    }
    await this.#store.close();
  }

  #requestCatchUp(): void {
    this.#catchUpWanted = true;
    if (!this.#closing) this.#flushing ??= this.#flushLoop();
  }

  /**
   * The one place that changes the state: commits queued appends in
   * batches and applies entries other writers stored, one at a time, so a
   * batch is always prepared against the state it will be applied to.
   */
  async #flushLoop(): Promise<void> {
    try {
      while (this.#queue.length > 0 || this.#catchUpWanted) {
        if (this.#catchUpWanted) {
          this.#catchUpWanted = false;
          try {
            await this.#catchUp();
          } catch (err) {
            // The store is unreachable; the next append fails with
            // UNAVAILABLE on its own, and the next head change retries.
            this.#catchUpWanted = this.#queue.length > 0;
            this.#hooks.onCatchUpFailed?.(err);
            if (this.#catchUpWanted) this.#failQueue(err);
            continue;
          }
        }
        if (this.#queue.length === 0) continue;
        // Let pending I/O callbacks enqueue their appends first, so that
        // concurrent writers share one store write (group commit).
        await new Promise<void>((resolve) => setImmediate(resolve));
        const batch = this.#queue.splice(0, this.#batchMax);
        await this.#commitBatch(batch);
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  /** Rejects every queued append because the store cannot be reached. */
  #failQueue(cause: unknown): void {
    const error = storeUnavailable(cause);
    for (const pending of this.#queue.splice(0)) pending.reject(error);
    this.#catchUpWanted = false;
  }

  async #commitBatch(batch: Pending[]): Promise<void> {
    const { state, accepted, leftover } = this.#prepare(batch);
    // What did not fit the store's batch size goes first in the next batch.
    this.#queue.unshift(...leftover);
    const records = accepted.flatMap((a) => (a.record ? [a.record] : []));
    const started = performance.now();
    try {
      await this.#store.append(records);
    } catch (err) {
      if (err instanceof StoreConflictError) {
        // Another writer appended first: learn its entries, then retry ours
        // against the newer state (they may now fail validation).
        this.#queue.unshift(...accepted.map((a) => a.pending));
        this.#catchUpWanted = true;
        return;
      }
      // The outcome is unknown (a quorum store may have committed before
      // the connection failed): re-read the store before the next batch. A
      // client retrying with the same request id gets the original entry.
      this.#catchUpWanted = true;
      const error = storeUnavailable(err);
      for (const a of accepted) a.pending.reject(error);
      return;
    }
    this.#state = state;
    const entries = accepted.filter((a) => a.record).map((a) => a.entry);
    this.#hooks.onCommitted?.(entries, performance.now() - started);
    for (const a of accepted) {
      a.pending.resolve({
        sequence: a.duplicateOf ?? a.entry.sequence,
        timestampMs: a.duplicateOf === undefined ? a.entry.timestamp?.getTime() : undefined,
        duplicate: a.duplicateOf !== undefined,
      });
    }
    for (const entry of entries) {
      for (const live of this.#subscribers) live.push(entry);
    }
    this.#maybeSnapshot();
  }

  /**
   * Validates and applies the batch to a speculative state; rejects what
   * fails. Appends beyond the store's batch size come back as `leftover`.
   */
  #prepare(
    batch: Pending[],
  ): { state: JournalState; accepted: Accepted[]; leftover: Pending[] } {
    let state = this.#state;
    const accepted: Accepted[] = [];
    const nowMs = Math.max(this.#clock.now(), state.lastTimestampMs);
    let bytes = 0;
    for (const [index, pending] of batch.entries()) {
      try {
        const { entry: input, expectedScopeVersion } = pending.request;
        const earlier = input.requestId === "" ? undefined : state.requestIds.get(input.requestId);
        if (earlier !== undefined) {
          accepted.push({ pending, entry: input, record: undefined, duplicateOf: earlier });
          continue;
        }
        const scope = validateEntry(state, input);
        checkScopeVersion(state, scope, expectedScopeVersion);
        const entry: ConfigEntry = {
          ...input,
          sequence: state.nextSequence,
          timestamp: new Date(nowMs),
        };
        const next = applyEntry(state, entry);
        const record: EntryRecord = {
          sequence: entry.sequence,
          timestampMs: nowMs,
          entryType: entry.entryType,
          scope: formatScope(scope),
          data: ConfigEntry.encode(entry).finish(),
        };
        if (bytes + record.data.length > this.#batchBytesMax) {
          if (bytes > 0) return { state, accepted, leftover: batch.slice(index) };
          throw new PactError(
            "INVALID_ARGUMENT",
            `Entry of ${record.data.length} bytes exceeds the store's limit of ${this.#batchBytesMax} bytes`,
          );
        }
        bytes += record.data.length;
        state = next;
        accepted.push({ pending, entry, record, duplicateOf: undefined });
      } catch (err) {
        if (isPactError(err)) this.#hooks.onRejected?.(err);
        pending.reject(err);
      }
    }
    return { state, accepted, leftover: [] };
  }

  /** Applies entries other writers stored after our state. */
  async #catchUp(): Promise<void> {
    while (true) {
      const page = await this.#store.read({
        fromSequence: this.#state.nextSequence,
        limit: READ_PAGE_ENTRIES,
      });
      if (page.length === 0) return;
      const entries = page.map((r) => ConfigEntry.decode(r.data));
      for (const entry of entries) this.#state = applyEntry(this.#state, entry);
      for (const entry of entries) {
        for (const live of this.#subscribers) live.push(entry);
      }
    }
  }

  #maybeSnapshot(): void {
    if (!this.#snapshots || this.#snapshotInterval <= 0 || this.#snapshotting) return;
    if (this.#state.nextSequence - this.#snapshotSequence < this.#snapshotInterval) return;
    this.#snapshotting = this.#takeSnapshot(this.#state)
      .catch((err) => this.#hooks.onSnapshotFailed?.(err))
      .finally(() => (this.#snapshotting = undefined));
  }

  async #takeSnapshot(state: JournalState): Promise<void> {
    if (!this.#snapshots) return;
    const data = encodeSnapshot(state);
    await this.#snapshots.save({ nextSequence: state.nextSequence, data });
    this.#snapshotSequence = Math.max(this.#snapshotSequence, state.nextSequence);
    this.#hooks.onSnapshot?.(state.nextSequence, data.length);
  }
}

function storeUnavailable(cause: unknown): PactError {
  if (isPactError(cause, "UNAVAILABLE")) return cause;
  return new PactError(
    "UNAVAILABLE",
    `Journal store unavailable: ${(cause as Error)?.message ?? cause}; the write may be retried`,
    { cause },
  );
}

function checkScopeVersion(
  state: JournalState,
  scope: ScopeRef,
  expected: number | undefined,
): void {
  if (expected === undefined) return;
  const actual = scopeVersion(state, scope);
  if (actual !== expected) {
    throw new PactError(
      "CONFLICT",
      `Cannot append to ${formatScope(scope)}: its version is ${
        actual ?? "none"
      }, the write expected ${expected} ` +
        "(another write got there first; re-read and retry)",
    );
  }
}
