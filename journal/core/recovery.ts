import { ConfigEntry } from "../../shared/proto/gen/pact/config/config.ts";
import { PactError } from "../../shared/errors/mod.ts";
import type { SnapshotStore } from "../snapshot/port.ts";
import { applyEntry } from "../state/reduce.ts";
import { getLogger } from "@logtape/logtape";
import { decodeSnapshot, SnapshotFormatError } from "../state/snapshot_codec.ts";
import { emptyState, type JournalState } from "../state/state.ts";
import type { JournalStore } from "../store/port.ts";

const REPLAY_PAGE_ENTRIES = 5000;

/** The state a journal restarts from, and where its snapshot left off. */
export interface Recovered {
  readonly state: JournalState;
  readonly snapshotSequence: number;
}

/**
 * Rebuilds the state after a restart: the newest intact snapshot, then the
 * store's entries after it. Refuses to start when the snapshot is ahead of
 * the store, since that means acknowledged entries are missing from disk.
 */
export async function recoverState(
  store: JournalStore,
  snapshots?: SnapshotStore,
): Promise<Recovered> {
  let snapshot = await snapshots?.latest();
  let state = emptyState();
  try {
    if (snapshot) state = decodeSnapshot(snapshot.data);
  } catch (err) {
    if (!(err instanceof SnapshotFormatError)) throw err;
    // Written by an older pact-journal: rebuild from the store once; the
    // next snapshot is written in the current format.
    getLogger(["pact", "journal", "recovery"]).warn(
      "Snapshot {sequence} is in format {format}, which this journal does not read: " +
        "replaying the store from the beginning",
      { sequence: snapshot!.nextSequence, format: err.format },
    );
    snapshot = undefined;
  }
  if (snapshot && state.nextSequence !== snapshot.nextSequence) {
    throw new PactError(
      "INTERNAL",
      `Cannot restore snapshot ${snapshot.nextSequence}: it holds state up to sequence ${state.nextSequence}`,
    );
  }
  const head = await store.nextSequence();
  if (state.nextSequence > head) {
    throw new PactError(
      "INTERNAL",
      `Cannot start: the snapshot covers ${state.nextSequence} entries but the store holds only ${head}; ` +
        "entries are missing from the store",
    );
  }
  while (state.nextSequence < head) {
    const page = await store.read({ fromSequence: state.nextSequence, limit: REPLAY_PAGE_ENTRIES });
    if (page.length === 0 || page[0]!.sequence !== state.nextSequence) {
      throw new PactError(
        "INTERNAL",
        `Cannot replay the journal: entry ${state.nextSequence} is missing from the store`,
      );
    }
    for (const record of page) {
      let entry: ConfigEntry;
      try {
        entry = ConfigEntry.decode(record.data);
      } catch (err) {
        throw new PactError(
          "INTERNAL",
          `Cannot replay entry ${record.sequence}: it does not decode`,
          {
            cause: err,
          },
        );
      }
      state = applyEntry(state, entry);
    }
  }
  return { state, snapshotSequence: snapshot?.nextSequence ?? 0 };
}
