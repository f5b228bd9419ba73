/** A saved state: the encoded JournalState after `nextSequence` entries. */
export interface Snapshot {
  readonly nextSequence: number;
  readonly data: Uint8Array;
}

/** Where a journal replica keeps its snapshots (local to the replica). */
export interface SnapshotStore {
  /** The newest intact snapshot, or undefined when there is none. */
  latest(): Promise<Snapshot | undefined>;
  /** Durably saves a snapshot and prunes old ones. */
  save(snapshot: Snapshot): Promise<void>;
}
