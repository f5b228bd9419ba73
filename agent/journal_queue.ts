/**
 * Journal writes that survive a partition (reference A9, §2.19): every
 * entry is written to an on-disk queue first, then appended in order. When
 * the journal is unreachable the queue keeps growing up to its bound and is
 * replayed, oldest first, once appends succeed again. Each entry carries a
 * request id, so an append whose acknowledgement was lost is not recorded
 * twice when it is replayed: the journal returns the original sequence.
 */
import { dirname } from "node:path";
import { isPactError } from "../shared/errors/mod.ts";
import { ConfigEntry } from "../shared/proto/gen/pact/config/config.ts";
import type { EntrySink } from "./node_agent.ts";

/** Options of a DurableQueueSink. */
export interface DurableQueueOptions {
  /** Where appends go when they can. */
  readonly inner: EntrySink;
  /** The queue file, e.g. /var/lib/pact/agent/journal-queue.jsonl. */
  readonly path: string;
  /** Most entries held; a further one is refused (reported through onError). */
  readonly entriesMax?: number;
  /** First retry delay after a failed append; doubles up to retryMaxMs. */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** Entries dropped (queue full, or refused by the journal for good). */
  readonly onError?: (message: string) => void;
}

/** An EntrySink that queues on disk and replays in order. */
export class DurableQueueSink implements EntrySink {
  readonly #options: DurableQueueOptions;
  #queue: ConfigEntry[] = [];
  #flushing: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #retryMs: number;
  #closed = false;
  /** Sequences of the entries appended so far (for the appends waiting on them). */
  readonly #sequences = new WeakMap<ConfigEntry, number>();
  #saving: Promise<void> = Promise.resolve();

  private constructor(options: DurableQueueOptions) {
    this.#options = options;
    this.#retryMs = options.retryBaseMs ?? 1_000;
  }

  /** Opens the queue, loading what a previous run left, and starts replaying it. */
  static async open(options: DurableQueueOptions): Promise<DurableQueueSink> {
    const sink = new DurableQueueSink(options);
    await Deno.mkdir(dirname(options.path), { recursive: true });
    const text = await Deno.readTextFile(options.path).catch((err) => {
      if (err instanceof Deno.errors.NotFound) return "";
      throw err;
    });
    sink.#queue = text.split("\n").filter((line) => line !== "").map((line) =>
      ConfigEntry.decode(Uint8Array.from(atob(line), (c) => c.charCodeAt(0)))
    );
    await sink.flush();
    return sink;
  }

  /** Entries waiting for the journal. */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Queues `entry` on disk, then replays the queue. Resolves with the
   * entry's sequence, or 0 when it stays queued (journal unreachable).
   */
  async append(entry: ConfigEntry): Promise<number> {
    if (this.#queue.length >= (this.#options.entriesMax ?? 10_000)) {
      this.#report(`Cannot queue a journal entry: the queue is full (${this.#queue.length})`);
      return 0;
    }
    this.#queue.push(entry);
    await this.#save();
    // Another append's flush may send this entry: the sequence is looked up
    // by entry, not taken from this call's own flush.
    await this.flush();
    return this.#sequences.get(entry) ?? 0;
  }

  /** Appends queued entries in order until one fails for a retryable reason. */
  flush(onAppended?: (sequence: number, entry: ConfigEntry) => void): Promise<void> {
    const run = (this.#flushing ?? Promise.resolve()).then(() => this.#drain(onAppended));
    this.#flushing = run.finally(() => {
      if (this.#flushing === run) this.#flushing = undefined;
    });
    return run;
  }

  /** Stops retrying; what is queued stays on disk for the next run. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#flushing;
  }

  async #drain(onAppended?: (sequence: number, entry: ConfigEntry) => void): Promise<void> {
    let changed = false;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const entry = this.#queue[0]!;
        try {
          const sequence = await this.#options.inner.append(entry);
          this.#sequences.set(entry, sequence);
          onAppended?.(sequence, entry);
          this.#retryMs = this.#options.retryBaseMs ?? 1_000;
        } catch (err) {
          if (isPactError(err, "UNAVAILABLE", "TIMEOUT") || !isPactError(err)) {
            this.#scheduleRetry();
            return;
          }
          // Refused for good (permission, validation): replaying it would block the queue forever.
          this.#report(`Journal refused a queued ${err.code} entry, dropped: ${err.message}`);
        }
        this.#queue.shift();
        changed = true;
      }
    } finally {
      if (changed) await this.#save();
    }
  }

  #scheduleRetry(): void {
    if (this.#closed || this.#timer !== undefined) return;
    const delay = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, this.#options.retryMaxMs ?? 60_000);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, delay);
  }

  /** Writes the whole queue atomically; one write at a time (they share the temp file). */
  #save(): Promise<void> {
    const run = this.#saving.then(() => this.#write());
    this.#saving = run.catch(() => {});
    return run;
  }

  async #write(): Promise<void> {
    const lines = this.#queue.map((entry) => {
      const bytes = ConfigEntry.encode(entry).finish();
      let binary = "";
      for (const byte of bytes) binary += String.fromCharCode(byte);
      return `${btoa(binary)}\n`;
    });
    const temp = `${this.#options.path}.tmp`;
    await Deno.writeTextFile(temp, lines.join(""));
    await Deno.rename(temp, this.#options.path);
  }

  #report(message: string): void {
    (this.#options.onError ?? console.error)(message);
  }
}
