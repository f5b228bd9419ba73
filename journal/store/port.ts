import { PactError } from "../../shared/errors/mod.ts";

/**
 * One stored journal entry: the encoded ConfigEntry plus the columns a store
 * indexes so that reads can filter without decoding.
 */
export interface EntryRecord {
  readonly sequence: number;
  readonly timestampMs: number;
  readonly entryType: number;
  /** Canonical scope text: `global`, `vc:<id>` or `node:<id>`. */
  readonly scope: string;
  /** The protobuf-encoded ConfigEntry, sequence and timestamp included. */
  readonly data: Uint8Array;
}

/** A filtered range read. Bounds are inclusive. */
export interface ReadQuery {
  readonly fromSequence?: number;
  readonly toSequence?: number;
  /** Most records to return; required so that no read is unbounded. */
  readonly limit: number;
  readonly newestFirst?: boolean;
  readonly scope?: string;
  readonly entryTypes?: readonly number[];
}

/** How much one `append` may carry; the journal splits its batches to fit. */
export interface StoreLimits {
  readonly maxBatchEntries: number;
  /** Sum of `data` lengths (plus per-record overhead the adapter accounts for). */
  readonly maxBatchBytes: number;
}

/**
 * The journal's durable, append-only log. Sequences start at 0 and have no
 * gaps. Every adapter (SQLite, etcd) passes `conformance.ts`.
 */
export interface JournalStore {
  /** `sqlite` or `etcd`. */
  readonly kind: string;
  /** Batch limits of this store; absent means no limit beyond the journal's own. */
  readonly limits?: StoreLimits;
  /**
   * Present on stores that several journal replicas share (etcd): calls
   * `onAdvance(nextSequence)` whenever any writer moves the store's head,
   * and `onError` if the watch breaks for good. Returns a function that
   * stops watching. The journal then reads the new records with `read`.
   */
  watchHead?(
    fromSequence: number,
    onAdvance: (nextSequence: number) => void,
    onError: (error: Error) => void,
  ): () => void;
  /** The sequence the next appended record must carry (0 when empty). */
  nextSequence(): Promise<number>;
  /**
   * Durably appends `records`, whose sequences must be consecutive, as one
   * atomic unit. Throws StoreConflictError, writing nothing, when the
   * store's next sequence is not `records[0].sequence` (another writer got
   * there first).
   */
  append(records: readonly EntryRecord[]): Promise<void>;
  /** Records matching `query`, in sequence order (or reversed). */
  read(query: ReadQuery): Promise<EntryRecord[]>;
  /** Releases files and connections. Idempotent. */
  close(): Promise<void>;
}

/** An append lost the race for its sequence. */
export class StoreConflictError extends PactError {
  readonly expected: number;
  readonly actual: number;

  constructor(expected: number, actual: number) {
    super(
      "CONFLICT",
      `Cannot append at sequence ${expected}: the store's next sequence is ${actual}`,
    );
    this.expected = expected;
    this.actual = actual;
  }
}

/** Throws RangeError unless `records` carry consecutive sequences. */
export function assertConsecutive(records: readonly EntryRecord[]): void {
  for (let i = 1; i < records.length; i++) {
    const previous = records[i - 1]!.sequence;
    if (records[i]!.sequence !== previous + 1) {
      throw new RangeError(
        `Records must have consecutive sequences: ${records[i]!.sequence} follows ${previous}`,
      );
    }
  }
}
