import assert from "node:assert/strict";
import { ManualClock } from "../../shared/clock/clock.ts";
import { isPactError } from "../../shared/errors/mod.ts";
import {
  DeclaredState,
  DeltaAction,
  EnrollmentRecord,
  EntryType,
  StateDelta,
} from "../../shared/proto/gen/pact/config/config.ts";
import {
  type BootConfigChunk,
  NodeDeltaEntries,
} from "../../shared/proto/gen/pact/stream/stream.ts";
import { commit, entry, policyUpdate } from "../../shared/testing/entries.ts";
import { Journal } from "../core/journal.ts";
import { SqliteStore } from "../store/sqlite_store.ts";
import { type BootRequest, bootStream, isSharedMessage } from "./boot_stream.ts";
import { OverlayCache } from "./overlay_cache.ts";

async function withJournal(
  body: (journal: Journal, boot: (r: BootRequest) => Promise<BootConfigChunk[]>) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pact-boot-stream-test-" });
  const clock = new ManualClock();
  const journal = await Journal.open({ store: new SqliteStore(`${dir}/journal.db`), clock });
  const cache = new OverlayCache(journal);
  const boot = async (request: BootRequest) => {
    const messages: BootConfigChunk[] = [];
    for await (const m of bootStream({ journal, cache, clock }, request)) messages.push(m);
    return messages;
  };
  try {
    await body(journal, boot);
  } finally {
    await journal.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const node = { kind: "node", id: "n1" } as const;

async function seed(journal: Journal): Promise<void> {
  const vc = { kind: "vcluster", id: "ml" } as const;
  await journal.append({
    entry: entry(EntryType.NODE_ASSIGNED, node, {
      payload: { $case: "enrollment", value: EnrollmentRecord.fromPartial({ vclusterId: "ml" }) },
    }),
  });
  await journal.append({ entry: policyUpdate("ml", { enforcementMode: "enforce" }) });
  await journal.append({
    entry: commit("n1", "hugepages", {
      payload: {
        $case: "stateDelta",
        value: StateDelta.fromPartial({
          kernel: [
            { key: "vm.nr_hugepages", action: DeltaAction.MODIFY, declaredValue: "1024" },
            { key: "vm.swappiness", action: DeltaAction.MODIFY, declaredValue: "1" },
          ],
        }),
      },
    }),
  });
  // The overlay now declares hugepages for everyone: the node's own value is superseded.
  await journal.append({
    entry: entry(EntryType.COMMIT, vc, {
      payload: {
        $case: "declared",
        value: DeclaredState.fromPartial({ sysctl: { "vm.nr_hugepages": "2048" } }),
      },
    }),
  });
}

const cases = (messages: BootConfigChunk[]) => messages.map((m) => m.chunk?.$case);

Deno.test("bootStream() sends overlay chunks, the node delta, then the completion", async () => {
  await withJournal(async (journal, boot) => {
    await seed(journal);
    const messages = await boot({ nodeId: "n1", vclusterId: "" });
    assert.deepEqual(cases(messages), ["overlay", "nodeDelta", "complete"]);
    const delta = messages[1]!.chunk;
    assert.ok(delta?.$case === "nodeDelta");
    const entries = NodeDeltaEntries.decode(delta.value.data).entries;
    const kernel = entries[0]?.payload?.$case === "stateDelta"
      ? entries[0].payload.value.kernel.map((k) => k.key)
      : [];
    assert.deepEqual(kernel, ["vm.swappiness"]);
    const complete = messages[2]!.chunk;
    assert.ok(complete?.$case === "complete");
    assert.equal(complete.value.baseVersion, 3);
    assert.equal(complete.value.nodeVersion, 2);
    assert.equal(complete.value.configVersion, 3);
    assert.equal(complete.value.vclusterId, "ml");
    assert.equal(complete.value.policy?.enforcementMode, "enforce");
    assert.equal(complete.value.unchanged, false);
  });
});

Deno.test("bootStream() sends only the completion when last_known_version is current", async () => {
  await withJournal(async (journal, boot) => {
    await seed(journal);
    const messages = await boot({ nodeId: "n1", vclusterId: "", lastKnownVersion: 3 });
    assert.deepEqual(cases(messages), ["complete"]);
    const complete = messages[0]!.chunk;
    assert.ok(complete?.$case === "complete" && complete.value.unchanged);
    // An older version gets everything again.
    assert.equal((await boot({ nodeId: "n1", vclusterId: "", lastKnownVersion: 2 })).length, 3);
  });
});

Deno.test("bootStream() skips the overlay for an unassigned node and refuses an unknown vCluster", async () => {
  await withJournal(async (journal, boot) => {
    await journal.append({ entry: commit("n2") });
    assert.deepEqual(cases(await boot({ nodeId: "n2", vclusterId: "" })), [
      "nodeDelta",
      "complete",
    ]);
    await assert.rejects(
      boot({ nodeId: "n2", vclusterId: "nope" }),
      (err) => isPactError(err, "NOT_FOUND") && /nope/.test(err.message),
    );
  });
});

Deno.test("bootStream() hands every node the same overlay message objects, so they are encoded once", async () => {
  await withJournal(async (journal, boot) => {
    await seed(journal);
    const first = await boot({ nodeId: "n1", vclusterId: "" });
    const second = await boot({ nodeId: "n7", vclusterId: "ml" });
    assert.equal(first[0]!.chunk?.$case, "overlay");
    assert.equal(first[0], second[0], "the overlay chunk is one shared object");
    assert.ok(isSharedMessage(first[0]!));
    assert.ok(!isSharedMessage(first[1]!), "a node delta is the node's own");
    assert.ok(!isSharedMessage(first[2]!), "so is the completion marker");
  });
});
