import assert from "node:assert/strict";
import {
  ConfigState,
  DeltaAction,
  EnrollmentRecord,
  EntryType,
  StateDelta,
} from "../../shared/proto/gen/pact/config/config.ts";
import { ManualClock } from "../../shared/clock/clock.ts";
import { isPactError } from "../../shared/errors/mod.ts";
import { commit, entry, overlayUpdate, policyUpdate } from "../../shared/testing/entries.ts";
import { FileSnapshotStore } from "../snapshot/file_snapshot_store.ts";
import { ValidationError, type ValidationRule } from "../state/validation_error.ts";
import { SqliteStore } from "../store/sqlite_store.ts";
import { Journal, type JournalOptions } from "./journal.ts";

interface Fixture {
  dir: string;
  clock: ManualClock;
  open(options?: Partial<JournalOptions>): Promise<Journal>;
}

async function withJournal(body: (journal: Journal, fx: Fixture) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pact-journal-test-" });
  const clock = new ManualClock(Date.UTC(2026, 10, 22, 12));
  const fx: Fixture = {
    dir,
    clock,
    open: (options = {}) =>
      Journal.open({
        store: new SqliteStore(`${dir}/journal.db`),
        snapshots: new FileSnapshotStore(`${dir}/snapshots`),
        clock,
        ...options,
      }),
  };
  const journal = await fx.open();
  try {
    await body(journal, fx);
  } finally {
    await journal.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("Journal.append() assigns gap-free sequences from 0 and server timestamps", async () => {
  await withJournal(async (journal, fx) => {
    const input = commit("n1", "first", { sequence: 999, timestamp: new Date(0) });
    const first = await journal.append({ entry: input });
    fx.clock.advance(1000);
    const second = await journal.append({ entry: commit("n1", "second") });
    assert.equal(first.sequence, 0);
    assert.equal(second.sequence, 1);
    const stored = await journal.read({ limit: 10 });
    assert.deepEqual(stored.map((e) => e.sequence), [0, 1]);
    assert.equal(stored[0]!.timestamp!.getTime(), Date.UTC(2026, 10, 22, 12));
    assert.equal(stored[1]!.timestamp!.getTime(), Date.UTC(2026, 10, 22, 12, 0, 1));
    assert.equal(stored[0]!.message, "first");
  });
});

Deno.test("Journal.append() never lets timestamps go backwards when the clock does", async () => {
  await withJournal(async (journal, fx) => {
    await journal.append({ entry: commit("n1") });
    fx.clock.set(Date.UTC(2020, 0, 1));
    await journal.append({ entry: commit("n1") });
    const [a, b] = await journal.read({ limit: 2 });
    assert.ok(b!.timestamp!.getTime() >= a!.timestamp!.getTime());
  });
});

Deno.test("Journal.append() gives each of many concurrent writers a unique sequence", async () => {
  await withJournal(async (journal) => {
    const results = await Promise.all(
      Array.from(
        { length: 500 },
        (_, i) => journal.append({ entry: commit(`n${i % 7}`, `c${i}`) }),
      ),
    );
    const sequences = results.map((r) => r.sequence).sort((a, b) => a - b);
    assert.deepEqual(sequences, [...Array(500).keys()]);
    assert.equal(journal.state.nextSequence, 500);
    const stored = await journal.read({ limit: 1000 });
    assert.equal(stored.length, 500);
  });
});

const badEntries: [ValidationRule, () => ReturnType<typeof commit>][] = [
  ["ENTRY_TYPE_REQUIRED", () => commit("n1", "x", { entryType: EntryType.UNSPECIFIED })],
  ["SCOPE_REQUIRED", () => commit("n1", "x", { scope: undefined })],
  [
    "SCOPE_REQUIRED",
    () => commit("n1", "x", { scope: { kind: { $case: "nodeId", value: "bad id!" } } }),
  ],
  [
    "AUTHOR_PRINCIPAL_REQUIRED",
    () => commit("n1", "x", { author: { principal: "", principalType: 1, role: "r" } }),
  ],
  ["AUTHOR_PRINCIPAL_REQUIRED", () => commit("n1", "x", { author: undefined })],
  [
    "AUTHOR_ROLE_REQUIRED",
    () => commit("n1", "x", { author: { principal: "a@b", principalType: 1, role: "" } }),
  ],
  ["PARENT_NOT_PRECEDING", () => commit("n1", "x", { parent: 1 })],
  ["TTL_TOO_SHORT", () => commit("n1", "x", { ttlSeconds: 899 })],
  ["TTL_TOO_LONG", () => commit("n1", "x", { ttlSeconds: 864_001 })],
  ["PAYLOAD_MISMATCH", () => entry(EntryType.POLICY_UPDATE, { kind: "vcluster", id: "ml" })],
  [
    "SCOPE_MISMATCH",
    () =>
      entry(EntryType.EMERGENCY_START, { kind: "vcluster", id: "ml" }, { emergencyReason: "r" }),
  ],
  [
    "SCOPE_MISMATCH",
    () => ({ ...policyUpdate("ml"), scope: { kind: { $case: "vclusterId", value: "other" } } }),
  ],
  [
    "OVERLAY_CHECKSUM_MISMATCH",
    () => overlayUpdate("ml", new Uint8Array([1, 2, 3]), { checksum: "00".repeat(32) }),
  ],
  ["OVERLAY_TOO_LARGE", () => overlayUpdate("ml", new Uint8Array(10 * 1024 * 1024 + 1))],
  ["EMERGENCY_REASON_REQUIRED", () => entry(EntryType.EMERGENCY_START, { kind: "node", id: "n1" })],
  ["EMERGENCY_NOT_ACTIVE", () => entry(EntryType.EMERGENCY_END, { kind: "node", id: "n1" })],
  ["FIELD_TOO_LARGE", () => commit("n1", "x".repeat(4097))],
];

for (const [rule, make] of badEntries) {
  Deno.test(`Journal.append() refuses ${rule} and writes nothing`, async () => {
    await withJournal(async (journal, fx) => {
      await journal.append({ entry: commit("n0", "existing") });
      const before = journal.state;
      await assert.rejects(journal.append({ entry: make() }), (err: unknown) => {
        assert.ok(err instanceof ValidationError, `expected ValidationError, got ${err}`);
        assert.equal(err.rule, rule);
        assert.equal(err.code, "VALIDATION");
        return true;
      });
      assert.equal(journal.state, before, "state must not change");
      const store = new SqliteStore(`${fx.dir}/journal.db`);
      assert.equal(await store.nextSequence(), 1, "store must not change");
      await store.close();
    });
  });
}

Deno.test("Journal.append() accepts TTLs at both bounds and 0 as no TTL", async () => {
  await withJournal(async (journal) => {
    for (const ttlSeconds of [900, 864_000, 0]) {
      await journal.append({ entry: commit("n1", "x", { ttlSeconds }) });
    }
    assert.equal(journal.state.nextSequence, 3);
  });
});

Deno.test("Journal.append() refuses a second emergency on the same node", async () => {
  await withJournal(async (journal) => {
    const start = entry(EntryType.EMERGENCY_START, { kind: "node", id: "n1" }, {
      emergencyReason: "gpu",
    });
    await journal.append({ entry: start });
    await assert.rejects(
      journal.append({ entry: start }),
      (err: unknown) => err instanceof ValidationError && err.rule === "EMERGENCY_ALREADY_ACTIVE",
    );
    assert.equal(journal.state.nodes.get("n1")!.configState, ConfigState.EMERGENCY);
    await journal.append({
      entry: entry(EntryType.EMERGENCY_END, { kind: "node", id: "n1" }, { parent: 0 }),
    });
    assert.equal(journal.state.nodes.get("n1")!.configState, ConfigState.COMMITTED);
  });
});

Deno.test("Journal.append() rejects a stale expected scope version with CONFLICT", async () => {
  await withJournal(async (journal) => {
    const first = await journal.append({ entry: commit("n1") });
    await journal.append({ entry: commit("n1"), expectedScopeVersion: first.sequence });
    await assert.rejects(
      journal.append({ entry: commit("n1"), expectedScopeVersion: first.sequence }),
      (err: unknown) => isPactError(err, "CONFLICT"),
    );
    // Other scopes are not affected by n1's version.
    await journal.append({ entry: commit("n2") });
    assert.equal(journal.state.nextSequence, 3);
  });
});

Deno.test("Journal.append() returns the original sequence for a repeated request id", async () => {
  await withJournal(async (journal) => {
    const a = await journal.append({ entry: commit("n1", "x", { requestId: "req-1" }) });
    const b = await journal.append({ entry: commit("n1", "x", { requestId: "req-1" }) });
    const [c, d] = await Promise.all([
      journal.append({ entry: commit("n1", "y", { requestId: "req-2" }) }),
      journal.append({ entry: commit("n1", "y", { requestId: "req-2" }) }),
    ]);
    assert.equal(a.duplicate, false);
    assert.equal(b.duplicate, true);
    assert.equal(b.sequence, a.sequence);
    assert.equal(c!.sequence, d!.sequence);
    assert.equal(journal.state.nextSequence, 2);
  });
});

Deno.test("Journal state tracks node, policy and overlay records", async () => {
  await withJournal(async (journal) => {
    await journal.append({ entry: commit("n1") });
    await journal.append({ entry: entry(EntryType.DRIFT_DETECTED, { kind: "node", id: "n1" }) });
    await journal.append({ entry: policyUpdate("ml", { twoPersonApproval: true }) });
    const data = new TextEncoder().encode("overlay-bytes");
    await journal.append({ entry: overlayUpdate("ml", data) });
    const node = journal.state.nodes.get("n1")!;
    assert.equal(node.configState, ConfigState.DRIFTED);
    assert.equal(node.driftEvents, 1);
    assert.equal(node.lastCommitSequence, 0);
    assert.equal(node.version, 1);
    const vc = journal.state.vclusters.get("ml")!;
    assert.equal(vc.policy!.twoPersonApproval, true);
    assert.equal(vc.policy!.policyId, "seq-2");
    assert.deepEqual(vc.overlay!.data, data);
    assert.equal(vc.version, 3);
  });
});

Deno.test("Journal.open() restores the same state from snapshot plus tail replay", async () => {
  await withJournal(async (journal, fx) => {
    await journal.append({ entry: policyUpdate("ml", { baseCommitWindowSeconds: 600 }) });
    for (let i = 0; i < 20; i++) {
      await journal.append({ entry: commit(`n${i % 3}`, `c${i}`, { requestId: `r${i}` }) });
    }
    await journal.snapshot();
    for (let i = 0; i < 5; i++) await journal.append({ entry: commit("n9", `late${i}`) });
    const expected = journal.state;
    await journal.close();
    const reopened = await fx.open();
    try {
      assert.equal(reopened.snapshotSequence, 26, "close() saves a final snapshot");
      assert.equal(reopened.state.nextSequence, expected.nextSequence);
      assert.deepEqual(reopened.state.nodes.toJS(), expected.nodes.toJS());
      assert.deepEqual(reopened.state.requestIds.toJS(), expected.requestIds.toJS());
      assert.equal(reopened.state.vclusters.get("ml")!.policy!.baseCommitWindowSeconds, 600);
      const again = await reopened.append({ entry: commit("n1", "x", { requestId: "r3" }) });
      assert.equal(again.duplicate, true, "request ids survive restart");
    } finally {
      await reopened.close();
    }
  });
});

Deno.test("Journal.open() replays the whole log when there is no snapshot", async () => {
  await withJournal(async (journal, fx) => {
    for (let i = 0; i < 30; i++) await journal.append({ entry: commit(`n${i % 4}`) });
    const expected = journal.state.nodes.toJS();
    await journal.close();
    await Deno.remove(`${fx.dir}/snapshots`, { recursive: true });
    const reopened = await fx.open({ snapshots: undefined });
    try {
      assert.equal(reopened.state.nextSequence, 30);
      assert.deepEqual(reopened.state.nodes.toJS(), expected);
    } finally {
      await reopened.close();
    }
  });
});

Deno.test("Journal state keeps each node's boot entries: every delta, the newest assignment only", async () => {
  await withJournal(async (journal, fx) => {
    const node = { kind: "node", id: "n1" } as const;
    const assign = (vclusterId: string) =>
      entry(EntryType.NODE_ASSIGNED, node, {
        payload: { $case: "enrollment", value: EnrollmentRecord.fromPartial({ vclusterId }) },
      });
    const delta = (key: string) =>
      commit("n1", key, {
        payload: {
          $case: "stateDelta",
          value: StateDelta.fromPartial({
            kernel: [{ key, action: DeltaAction.MODIFY, declaredValue: "1" }],
          }),
        },
      });
    await journal.append({ entry: assign("ml") }); // 0
    await journal.append({ entry: delta("vm.a") }); // 1
    await journal.append({ entry: commit("n1", "no payload") }); // 2: not a boot entry
    await journal.append({ entry: entry(EntryType.DRIFT_DETECTED, node) }); // 3
    await journal.append({ entry: assign("ai") }); // 4
    await journal.append({ entry: delta("vm.b") }); // 5
    const sequences = () => journal.state.nodes.get("n1")!.bootEntries.map((e) => e.sequence);
    assert.deepEqual(sequences(), [1, 4, 5]);
    await journal.snapshot();
    const expected = journal.state.nodes.get("n1");
    await journal.close();
    const reopened = await fx.open();
    try {
      assert.equal(reopened.snapshotSequence, 6);
      assert.deepEqual(reopened.state.nodes.get("n1"), expected, "boot entries survive a snapshot");
    } finally {
      await reopened.close();
    }
  });
});

Deno.test("Journal.open() replays the store when the snapshot is in an older format", async () => {
  await withJournal(async (journal, fx) => {
    for (let i = 0; i < 4; i++) await journal.append({ entry: commit(`n${i % 2}`) });
    await journal.snapshot();
    const expected = journal.state.nodes.toJS();
    await journal.close();
    // A format-1 snapshot (before nodes carried boot entries), intact but unreadable now.
    const old = new TextEncoder().encode(JSON.stringify({ format: 1, nextSequence: 4 }));
    await Deno.remove(`${fx.dir}/snapshots`, { recursive: true });
    await new FileSnapshotStore(`${fx.dir}/snapshots`).save({ nextSequence: 4, data: old });
    const reopened = await fx.open();
    try {
      assert.equal(reopened.snapshotSequence, 0, "the old snapshot is not used");
      assert.equal(reopened.state.nextSequence, 4);
      assert.deepEqual(reopened.state.nodes.toJS(), expected);
    } finally {
      await reopened.close();
    }
  });
});

Deno.test("Journal.open() refuses a snapshot that is ahead of the store", async () => {
  await withJournal(async (journal, fx) => {
    for (let i = 0; i < 3; i++) await journal.append({ entry: commit("n1") });
    await journal.close();
    await Deno.remove(`${fx.dir}/journal.db`);
    await assert.rejects(fx.open(), (err: unknown) => isPactError(err, "INTERNAL"));
    await Deno.remove(`${fx.dir}/snapshots`, { recursive: true });
  });
});

Deno.test("Journal takes automatic snapshots every snapshotInterval entries", async () => {
  await withJournal(async (_journal, fx) => {
    const journal = await fx.open({ snapshotInterval: 10 });
    try {
      for (let i = 0; i < 25; i++) await journal.append({ entry: commit("n1") });
      await journal.snapshot();
      assert.ok(journal.snapshotSequence >= 20);
    } finally {
      await journal.close();
    }
  });
});

Deno.test("Journal.subscribe() replays stored entries then delivers live ones in order", async () => {
  await withJournal(async (journal) => {
    for (let i = 0; i < 5; i++) await journal.append({ entry: commit(`n${i}`) });
    const controller = new AbortController();
    const seen: number[] = [];
    const reader = (async () => {
      for await (const e of journal.subscribe(2, () => true, controller.signal)) {
        seen.push(e.sequence);
        if (seen.length === 6) controller.abort();
      }
    })();
    for (let i = 0; i < 3; i++) await journal.append({ entry: commit("live") });
    await reader;
    assert.deepEqual(seen, [2, 3, 4, 5, 6, 7]);
    assert.equal(journal.subscriberCount, 0);
  });
});

Deno.test("Journal.subscribe() cuts off a subscriber that falls too far behind", async () => {
  await withJournal(async (journal) => {
    const iterator = journal.subscribe(0, () => true);
    const first = iterator.next();
    await journal.append({ entry: commit("n1") });
    assert.equal((await first).value.sequence, 0);
    await Promise.all(Array.from({ length: 1100 }, () => journal.append({ entry: commit("n1") })));
    await assert.rejects(
      (async () => {
        for await (const _ of { [Symbol.asyncIterator]: () => iterator }) { /* drain */ }
      })(),
      (err: unknown) => isPactError(err, "RESOURCE_EXHAUSTED"),
    );
  });
});

Deno.test("Journal.close() refuses later appends with UNAVAILABLE", async () => {
  await withJournal(async (journal) => {
    await journal.close();
    await assert.rejects(
      journal.append({ entry: commit("n1") }),
      (err: unknown) => isPactError(err, "UNAVAILABLE"),
    );
  });
});

/** The real SQLite store, advertising small batch limits and recording batch sizes. */
class LimitedSqliteStore extends SqliteStore {
  readonly limits = { maxBatchEntries: 3, maxBatchBytes: 4096 };
  readonly batchSizes: number[] = [];

  override append(records: Parameters<SqliteStore["append"]>[0]): Promise<void> {
    this.batchSizes.push(records.length);
    return super.append(records);
  }
}

Deno.test("Journal splits group commits to fit the store's batch limits", async () => {
  await withJournal(async (_journal, fx) => {
    const store = new LimitedSqliteStore(`${fx.dir}/limited.db`);
    const journal = await fx.open({ store });
    try {
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => journal.append({ entry: commit(`n${i}`) })),
      );
      assert.deepEqual(results.map((r) => r.sequence).sort((a, b) => a - b), [...Array(10).keys()]);
      assert.ok(store.batchSizes.every((size) => size <= 3), `batches ${store.batchSizes}`);
      // About 1 KiB each: only three fit the 4 KiB budget, the rest wait for the next batch.
      const big = "x".repeat(1000);
      const sized = await Promise.all(
        Array.from({ length: 3 }, () => journal.append({ entry: commit("big", big) })),
      );
      assert.equal(new Set(sized.map((r) => r.sequence)).size, 3);
      // One entry larger than the whole budget is refused and nothing is written.
      const before = journal.state.nextSequence;
      await assert.rejects(
        journal.append({ entry: commit("huge", "y".repeat(4090)) }),
        (err) =>
          isPactError(err, "INVALID_ARGUMENT") && /exceeds the store's limit/.test(err.message),
      );
      assert.equal(journal.state.nextSequence, before);
      assert.equal(await store.nextSequence(), before);
    } finally {
      await journal.close();
    }
  });
});

Deno.test("Journal catches up with another writer of the same store and retries its append", async () => {
  await withJournal(async (first, fx) => {
    const second = await fx.open({ snapshots: undefined });
    try {
      await first.append({ entry: commit("n1", "from the first replica") });
      // The second replica's state is behind: its append conflicts in the
      // store, it reads the first replica's entry, then lands after it.
      const result = await second.append({ entry: commit("n2", "from the second replica") });
      assert.equal(result.sequence, 1);
      assert.equal(second.state.nextSequence, 2);
      assert.equal(second.state.nodes.get("n1")?.lastCommitSequence, 0);
      // A stale expected version computed before the catch-up is still refused.
      await assert.rejects(
        first.append({ entry: commit("n2"), expectedScopeVersion: 0 }),
        (err) => isPactError(err, "CONFLICT"),
      );
      assert.deepEqual((await second.read({ limit: 10 })).map((e) => e.message), [
        "from the first replica",
        "from the second replica",
      ]);
    } finally {
      await second.close();
    }
  });
});
