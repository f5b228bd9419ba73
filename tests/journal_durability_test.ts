/**
 * Restart durability of a real pact-journal process: writers append as fast
 * as they can, the journal is killed with SIGKILL mid-stream, restarted, and
 * every acknowledged append must be there, with no gaps in the sequence.
 */
import assert from "node:assert/strict";
import { JournalClient } from "../cli/client/journal_client.ts";
import { commit } from "../shared/testing/entries.ts";
import { JournalProcess } from "./harness/journal_process.ts";

const WRITERS = 16;

interface Acked {
  readonly sequence: number;
  readonly message: string;
}

/** Appends from WRITERS concurrent clients until the journal goes away; returns what was acknowledged. */
async function writeUntilKilled(
  journal: JournalProcess,
  round: number,
  killAfterAcks: number,
): Promise<Acked[]> {
  const token = await journal.token();
  const acked: Acked[] = [];
  let killed = false;
  const writers = Array.from({ length: WRITERS }, async (_, w) => {
    const client = new JournalClient({ endpoint: journal.endpoint, token, timeoutSeconds: 5 });
    try {
      for (let i = 0; !killed; i++) {
        const message = `round ${round} writer ${w} append ${i}`;
        try {
          const response = await client.appendEntry({
            entry: commit(`node${w}`, message, { requestId: message }),
          });
          acked.push({ sequence: response.sequence, message });
        } catch {
          return; // The journal is gone; what was not acknowledged may or may not be stored.
        }
        if (acked.length >= killAfterAcks && !killed) {
          killed = true;
          await journal.kill();
        }
      }
    } finally {
      client.close();
    }
  });
  await Promise.all(writers);
  return acked;
}

Deno.test("pact-journal keeps every acknowledged append across SIGKILL, with no sequence gaps", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "pact-durability-" });
  const acked: Acked[] = [];
  try {
    for (let round = 0; round < 3; round++) {
      const journal = await JournalProcess.start({ dataDir });
      acked.push(...await writeUntilKilled(journal, round, 300 + round * 200));
    }
    const journal = await JournalProcess.start({ dataDir });
    try {
      const client = new JournalClient({
        endpoint: journal.endpoint,
        token: await journal.token(),
        timeoutSeconds: 30,
      });
      try {
        const status = await client.getJournalStatus();
        const stored = await client.listEntries({ limit: 10_000 });
        assert.ok(stored.length < 10_000, "the test must stay below one ListEntries page");
        assert.equal(stored.length, status.nextSequence);
        stored.forEach((entry, i) =>
          assert.equal(entry.sequence, i, "sequences are gap-free from 0")
        );
        for (const { sequence, message } of acked) {
          assert.equal(
            stored[sequence]?.message,
            message,
            `acknowledged seq:${sequence} must survive`,
          );
        }
        assert.ok(
          acked.length >= 900,
          `expected at least 900 acknowledged appends, got ${acked.length}`,
        );
        // Each acknowledged append was stored exactly once (request ids are unique).
        const messages = new Set(stored.map((e) => e.message));
        assert.equal(messages.size, stored.length);
      } finally {
        client.close();
      }
    } finally {
      await journal.stop();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("pact-journal restarts cleanly from its snapshot after SIGTERM", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "pact-restart-" });
  try {
    const first = await JournalProcess.start({ dataDir });
    const token = await first.token();
    const client = new JournalClient({ endpoint: first.endpoint, token, timeoutSeconds: 10 });
    for (let i = 0; i < 25; i++) await client.appendEntry({ entry: commit(`n${i % 5}`, `c${i}`) });
    client.close();
    const stopped = await first.stop();
    assert.equal(stopped.code, 0, first.log);
    assert.match(first.log, /pact-journal stopped at sequence 25/);
    const snapshots = [...Deno.readDirSync(`${dataDir}/snapshots`)].map((e) => e.name);
    assert.deepEqual(snapshots, ["snapshot-00000000000000000025.bin"]);

    const second = await JournalProcess.start({ dataDir });
    try {
      assert.match(second.log, /State restored: snapshot at 25, replayed 0 entries/);
      const again = new JournalClient({ endpoint: second.endpoint, token, timeoutSeconds: 10 });
      try {
        const nodes = (await again.listNodeStates()).nodes;
        assert.deepEqual(nodes.map((n) => [n.nodeId, n.version]), [
          ["n0", 20],
          ["n1", 21],
          ["n2", 22],
          ["n3", 23],
          ["n4", 24],
        ]);
        const next = await again.appendEntry({ entry: commit("n0", "after restart") });
        assert.equal(next.sequence, 25);
      } finally {
        again.close();
      }
    } finally {
      await second.stop();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
