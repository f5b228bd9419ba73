import assert from "node:assert/strict";
import { type EntryRecord, type JournalStore, StoreConflictError } from "./port.ts";

/**
 * Opens stores over one shared location. `open` may be called several times
 * (to reopen after close, or to get two competing writers).
 */
export interface StoreFixture {
  open(): Promise<JournalStore>;
  /** Removes the location. */
  dispose(): Promise<void>;
}

/** Makes a record whose bytes encode its sequence, so reads can be checked. */
export function record(sequence: number, scope = "global", entryType = 1, size = 16): EntryRecord {
  const data = new Uint8Array(size);
  new DataView(data.buffer).setUint32(0, sequence);
  data.fill(sequence % 251, 4);
  return { sequence, timestampMs: 1_700_000_000_000 + sequence, entryType, scope, data };
}

function records(from: number, count: number, scope?: string): EntryRecord[] {
  return Array.from({ length: count }, (_, i) => record(from + i, scope));
}

/**
 * The behaviour every JournalStore adapter must show. Call it from an
 * adapter's test file with a fixture factory.
 */
export function storeConformance(name: string, fixture: () => Promise<StoreFixture>): void {
  const cases: [string, (f: StoreFixture) => Promise<void>][] = [
    ["starts empty at sequence 0", async (f) => {
      const store = await f.open();
      assert.equal(await store.nextSequence(), 0);
      assert.deepEqual(await store.read({ limit: 10 }), []);
      await store.close();
    }],
    ["returns appended records byte for byte", async (f) => {
      const store = await f.open();
      const written = records(0, 3);
      await store.append(written);
      assert.equal(await store.nextSequence(), 3);
      const read = await store.read({ limit: 10 });
      assert.deepEqual(read.map((r) => r.sequence), [0, 1, 2]);
      for (let i = 0; i < 3; i++) {
        assert.deepEqual(new Uint8Array(read[i]!.data), written[i]!.data);
        assert.equal(read[i]!.timestampMs, written[i]!.timestampMs);
        assert.equal(read[i]!.scope, written[i]!.scope);
        assert.equal(read[i]!.entryType, written[i]!.entryType);
      }
      await store.close();
    }],
    ["treats an empty append as a no-op", async (f) => {
      const store = await f.open();
      await store.append([]);
      assert.equal(await store.nextSequence(), 0);
      await store.close();
    }],
    ["reads bounded ranges in both orders", async (f) => {
      const store = await f.open();
      await store.append(records(0, 50));
      const mid = await store.read({ fromSequence: 10, toSequence: 19, limit: 100 });
      assert.deepEqual(mid.map((r) => r.sequence), [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
      const limited = await store.read({ fromSequence: 10, limit: 3 });
      assert.deepEqual(limited.map((r) => r.sequence), [10, 11, 12]);
      const newest = await store.read({ limit: 4, newestFirst: true });
      assert.deepEqual(newest.map((r) => r.sequence), [49, 48, 47, 46]);
      const newestBelow = await store.read({ toSequence: 20, limit: 2, newestFirst: true });
      assert.deepEqual(newestBelow.map((r) => r.sequence), [20, 19]);
      assert.deepEqual(await store.read({ fromSequence: 50, limit: 10 }), []);
      assert.deepEqual(await store.read({ limit: 0 }), []);
      await store.close();
    }],
    ["filters by scope and entry type", async (f) => {
      const store = await f.open();
      await store.append([
        record(0, "node:n1", 1),
        record(1, "node:n2", 1),
        record(2, "node:n1", 4),
        record(3, "vc:ml", 6),
        record(4, "node:n1", 1),
      ]);
      const n1 = await store.read({ scope: "node:n1", limit: 10 });
      assert.deepEqual(n1.map((r) => r.sequence), [0, 2, 4]);
      const commits = await store.read({ scope: "node:n1", entryTypes: [1], limit: 10 });
      assert.deepEqual(commits.map((r) => r.sequence), [0, 4]);
      const several = await store.read({ entryTypes: [4, 6], limit: 10 });
      assert.deepEqual(several.map((r) => r.sequence), [2, 3]);
      const lastN1 = await store.read({ scope: "node:n1", limit: 1, newestFirst: true });
      assert.deepEqual(lastN1.map((r) => r.sequence), [4]);
      await store.close();
    }],
    ["refuses an append at a stale sequence and writes nothing", async (f) => {
      const store = await f.open();
      await store.append(records(0, 2));
      await assert.rejects(store.append(records(1, 2)), (err: unknown) => {
        assert.ok(err instanceof StoreConflictError);
        assert.equal(err.code, "CONFLICT");
        assert.equal(err.expected, 1);
        assert.equal(err.actual, 2);
        return true;
      });
      await assert.rejects(store.append(records(5, 1)), StoreConflictError);
      assert.equal(await store.nextSequence(), 2);
      assert.equal((await store.read({ limit: 10 })).length, 2);
      await store.close();
    }],
    ["refuses records with a gap as misuse", async (f) => {
      const store = await f.open();
      await assert.rejects(store.append([record(0), record(2)]), RangeError);
      assert.equal(await store.nextSequence(), 0);
      await store.close();
    }],
    ["keeps appended records across close and reopen", async (f) => {
      const first = await f.open();
      await first.append(records(0, 10));
      await first.append(records(10, 5));
      await first.close();
      const second = await f.open();
      assert.equal(await second.nextSequence(), 15);
      const all = await second.read({ limit: 100 });
      assert.deepEqual(all.map((r) => r.sequence), [...Array(15).keys()]);
      await second.close();
    }],
    ["lets exactly one of two competing writers take a sequence", async (f) => {
      const a = await f.open();
      const b = await f.open();
      const results = await Promise.allSettled([
        a.append([record(0, "node:a")]),
        b.append([record(0, "node:b")]),
      ]);
      const won = results.filter((r) => r.status === "fulfilled").length;
      assert.equal(won, 1);
      const lost = results.find((r) => r.status === "rejected");
      assert.ok(lost?.status === "rejected" && lost.reason instanceof StoreConflictError);
      assert.equal(await a.nextSequence(), 1);
      assert.equal(await b.nextSequence(), 1);
      // The loser catches up and appends after the winner.
      await b.append([record(1, "node:b")]);
      assert.deepEqual((await a.read({ limit: 10 })).map((r) => r.sequence), [0, 1]);
      await a.close();
      await b.close();
    }],
    ["stores large records", async (f) => {
      const store = await f.open();
      const big = record(0, "vc:big", 23, 1024 * 1024);
      await store.append([big]);
      const [read] = await store.read({ limit: 1 });
      assert.equal(read!.data.length, big.data.length);
      assert.deepEqual(new Uint8Array(read!.data), big.data);
      await store.close();
    }],
    ["appends a large batch atomically", async (f) => {
      const store = await f.open();
      await store.append(records(0, 1000, "node:bulk"));
      assert.equal(await store.nextSequence(), 1000);
      const last = await store.read({ limit: 1, newestFirst: true });
      assert.equal(last[0]!.sequence, 999);
      await store.close();
    }],
    ["closes idempotently", async (f) => {
      const store = await f.open();
      await store.close();
      await store.close();
    }],
  ];
  for (const [title, body] of cases) {
    Deno.test(`${name} store ${title}`, async () => {
      const f = await fixture();
      try {
        await body(f);
      } finally {
        await f.dispose();
      }
    });
  }
}
