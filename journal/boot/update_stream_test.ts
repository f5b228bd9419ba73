import assert from "node:assert/strict";
import { ManualClock, systemClock } from "../../shared/clock/clock.ts";
import { isPactError } from "../../shared/errors/mod.ts";
import { UpdateKind } from "../../shared/proto/gen/pact/config/config.ts";
import type { ConfigUpdate } from "../../shared/proto/gen/pact/stream/stream.ts";
import { commit } from "../../shared/testing/entries.ts";
import { Journal } from "../core/journal.ts";
import { SUBSCRIBER_BACKLOG_MAX } from "../core/subscription.ts";
import { SqliteStore } from "../store/sqlite_store.ts";
import { followUpdates } from "./update_stream.ts";

async function withJournal(body: (journal: Journal) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pact-update-stream-test-" });
  const journal = await Journal.open({
    store: new SqliteStore(`${dir}/journal.db`),
    clock: new ManualClock(),
  });
  try {
    await body(journal);
  } finally {
    await journal.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const all = () => true;

Deno.test("followUpdates() replays from the sequence asked for, then sends live entries", async () => {
  await withJournal(async (journal) => {
    for (let i = 0; i < 3; i++) await journal.append({ entry: commit("n1", `c${i}`) });
    const controller = new AbortController();
    const seen: ConfigUpdate[] = [];
    const following = followUpdates(
      journal,
      { clock: systemClock },
      1,
      all,
      controller.signal,
      (update) => {
        seen.push(update);
        if (seen.length === 3) controller.abort();
        return Promise.resolve();
      },
    );
    await journal.append({ entry: commit("n1", "live") });
    await following;
    assert.deepEqual(seen.map((u) => u.sequence), [1, 2, 3]);
    assert.equal(seen[2]!.kind, UpdateKind.NODE_DELTA);
    assert.equal(seen[2]!.entry?.message, "live");
  });
});

Deno.test("followUpdates() cuts off a subscriber more than the backlog behind, saying where to resume", async () => {
  await withJournal(async (journal) => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const sent: number[] = [];
    const following = followUpdates(
      journal,
      { clock: systemClock },
      0,
      all,
      new AbortController().signal,
      async (update) => {
        sent.push(update.sequence);
        await gate; // the subscriber reads nothing until the gate opens
      },
    );
    const appends = Array.from(
      { length: SUBSCRIBER_BACKLOG_MAX + 50 },
      (_, i) => journal.append({ entry: commit("n1", `c${i}`) }),
    );
    await Promise.all(appends);
    open();
    await assert.rejects(following, (err) => {
      assert.ok(isPactError(err, "RESOURCE_EXHAUSTED"));
      assert.match(err.message, /more than 1024 entries behind or not reading/);
      assert.match(err.message, new RegExp(`the last one sent was seq:${sent.at(-1)}`));
      return true;
    });
    assert.equal(journal.subscriberCount, 0);
  });
});

Deno.test("followUpdates() cuts off a subscriber that stops reading for the stall limit", async () => {
  await withJournal(async (journal) => {
    await journal.append({ entry: commit("n1") });
    const following = followUpdates(
      journal,
      { clock: systemClock, stallMs: 30 },
      0,
      all,
      new AbortController().signal,
      () => new Promise<void>(() => {}),
    );
    await assert.rejects(
      following,
      (err) => isPactError(err, "RESOURCE_EXHAUSTED") && /none was sent/.test(err.message),
    );
  });
});

Deno.test("followUpdates() sends heartbeats only while idle", async () => {
  await withJournal(async (journal) => {
    await journal.append({ entry: commit("n1") });
    const controller = new AbortController();
    const seen: ConfigUpdate[] = [];
    const following = followUpdates(
      journal,
      { clock: systemClock, heartbeatMs: 20 },
      0,
      all,
      controller.signal,
      (update) => {
        seen.push(update);
        if (seen.filter((u) => u.kind === UpdateKind.HEARTBEAT).length === 2) controller.abort();
        return Promise.resolve();
      },
    );
    await following;
    assert.equal(seen[0]!.kind, UpdateKind.NODE_DELTA);
    assert.deepEqual(seen.slice(1).map((u) => [u.kind, u.sequence, u.entry]), [
      [UpdateKind.HEARTBEAT, 1, undefined],
      [UpdateKind.HEARTBEAT, 1, undefined],
    ]);
  });
});
