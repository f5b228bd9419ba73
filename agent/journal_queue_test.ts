import assert from "node:assert/strict";
import { PactError } from "../shared/errors/mod.ts";
import { type ConfigEntry, EntryType } from "../shared/proto/gen/pact/config/config.ts";
import { agentEntry } from "./drift/drift_entries.ts";
import { DurableQueueSink } from "./journal_queue.ts";
import type { EntrySink } from "./node_agent.ts";

/** A journal that can be made unreachable or refusing; records what it accepted. */
class SwitchableJournal implements EntrySink {
  reachable = true;
  refuse: ((entry: ConfigEntry) => boolean) | undefined;
  readonly accepted: ConfigEntry[] = [];
  readonly #byRequest = new Map<string, number>();

  append(entry: ConfigEntry): Promise<number> {
    if (!this.reachable) return Promise.reject(new PactError("UNAVAILABLE", "journal down"));
    if (this.refuse?.(entry)) {
      return Promise.reject(new PactError("PERMISSION_DENIED", "agents may not write this"));
    }
    const known = this.#byRequest.get(entry.requestId);
    if (known !== undefined) return Promise.resolve(known);
    this.accepted.push(entry);
    this.#byRequest.set(entry.requestId, this.accepted.length);
    return Promise.resolve(this.accepted.length);
  }
}

const drift = (message: string) =>
  agentEntry({ nodeId: "n1", type: EntryType.DRIFT_DETECTED, message });

async function withDir(body: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pact-queue-" });
  try {
    await body(`${dir}/queue/journal-queue.jsonl`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("DurableQueueSink appends at once while the journal is reachable", async () => {
  await withDir(async (path) => {
    const journal = new SwitchableJournal();
    const sink = await DurableQueueSink.open({ inner: journal, path });
    assert.equal(await sink.append(drift("a")), 1);
    assert.equal(await sink.append(drift("b")), 2);
    assert.equal(sink.pending, 0);
    assert.equal(await Deno.readTextFile(path), "", "nothing left on disk");
    await sink.close();
  });
});

Deno.test("DurableQueueSink keeps entries on disk through a partition and an agent restart", async () => {
  await withDir(async (path) => {
    const journal = new SwitchableJournal();
    journal.reachable = false;
    const first = await DurableQueueSink.open({ inner: journal, path, retryBaseMs: 60_000 });
    assert.equal(await first.append(drift("one")), 0, "queued, not journaled");
    assert.equal(await first.append(drift("two")), 0);
    assert.equal(first.pending, 2);
    await first.close(); // the agent restarts while the journal is still away
    assert.equal((await Deno.readTextFile(path)).trim().split("\n").length, 2);

    journal.reachable = true;
    const second = await DurableQueueSink.open({ inner: journal, path });
    assert.equal(second.pending, 0, "replayed on open");
    assert.equal(await second.append(drift("three")), 3);
    assert.deepEqual(journal.accepted.map((e) => e.message), ["one", "two", "three"]);
    await second.close();
  });
});

Deno.test("DurableQueueSink replays without duplicates when an acknowledgement was lost", async () => {
  await withDir(async (path) => {
    const journal = new SwitchableJournal();
    const entry = drift("once");
    await journal.append(entry); // recorded, but the agent never saw the answer
    const sink = await DurableQueueSink.open({ inner: journal, path });
    assert.equal(await sink.append(entry), 1, "the journal returns the original sequence");
    assert.equal(journal.accepted.length, 1);
    await sink.close();
  });
});

Deno.test("DurableQueueSink retries on its own with backoff once the journal is back", async () => {
  await withDir(async (path) => {
    const journal = new SwitchableJournal();
    journal.reachable = false;
    const sink = await DurableQueueSink.open({ inner: journal, path, retryBaseMs: 20 });
    await sink.append(drift("late"));
    journal.reachable = true;
    const until = Date.now() + 2_000;
    while (sink.pending > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    assert.equal(sink.pending, 0);
    assert.deepEqual(journal.accepted.map((e) => e.message), ["late"]);
    await sink.close();
  });
});

Deno.test("DurableQueueSink drops what the journal refuses for good and what exceeds its bound", async () => {
  await withDir(async (path) => {
    const journal = new SwitchableJournal();
    journal.refuse = (entry) => entry.message === "forbidden";
    const errors: string[] = [];
    const sink = await DurableQueueSink.open({
      inner: journal,
      path,
      entriesMax: 2,
      retryBaseMs: 60_000,
      onError: (message) => errors.push(message),
    });
    assert.equal(await sink.append(drift("forbidden")), 0);
    assert.equal(await sink.append(drift("fine")), 1, "the refused entry does not block");
    assert.match(errors[0]!, /refused a queued PERMISSION_DENIED entry, dropped/);

    journal.reachable = false;
    await sink.append(drift("q1"));
    await sink.append(drift("q2"));
    assert.equal(await sink.append(drift("q3")), 0);
    assert.equal(sink.pending, 2);
    assert.match(errors[1]!, /queue is full \(2\)/);
    await sink.close();
  });
});

Deno.test("DurableQueueSink gives each of many concurrent appends its own sequence", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pact-queue-concurrent-" });
  try {
    let next = 1;
    const slow: EntrySink = {
      append: async () => {
        await new Promise((r) => setTimeout(r, 5));
        return next++;
      },
    };
    const queue = await DurableQueueSink.open({ inner: slow, path: `${dir}/q.jsonl` });
    const sequences = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) =>
          queue.append(
            agentEntry({ nodeId: "n1", type: EntryType.DRIFT_DETECTED, message: `e${i}` }),
          ),
      ),
    );
    assert.deepEqual(sequences, Array.from({ length: 20 }, (_, i) => i + 1));
    assert.equal(queue.pending, 0);
    await queue.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
