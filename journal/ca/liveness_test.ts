import assert from "node:assert/strict";
import { ManualClock } from "../../shared/clock/clock.ts";
import { toProtoScope } from "../../shared/domain/scope.ts";
import {
  ConfigEntry,
  EnrollmentState,
  EntryType,
  PrincipalType,
} from "../../shared/proto/gen/pact/config/config.ts";
import { emptyHardwareIdentity } from "../../shared/domain/hardware_identity.ts";
import { Journal } from "../core/journal.ts";
import { SqliteStore } from "../store/sqlite_store.ts";
import { NodeLiveness } from "./liveness.ts";

const AUTHOR = { principal: "test", principalType: PrincipalType.SYSTEM, role: "pact-journal" };

async function withActiveNode(
  body: (journal: Journal, clock: ManualClock) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pact-liveness-test-" });
  const clock = new ManualClock(1_000_000);
  const journal = await Journal.open({ store: new SqliteStore(`${dir}/journal.db`), clock });
  const scope = toProtoScope({ kind: "node", id: "n1" });
  try {
    await journal.append({
      entry: ConfigEntry.fromPartial({
        entryType: EntryType.NODE_REGISTERED,
        scope,
        author: AUTHOR,
        payload: {
          $case: "enrollment",
          value: {
            nodeId: "n1",
            domainId: "default",
            hardware: { ...emptyHardwareIdentity(), macAddress: "52:54:00:00:00:01" },
          },
        },
      }),
    });
    await journal.append({
      entry: ConfigEntry.fromPartial({
        entryType: EntryType.NODE_ACTIVATED,
        scope,
        author: AUTHOR,
        payload: {
          $case: "certificate",
          value: { nodeId: "n1", serial: "1a2b", notAfter: new Date(clock.now() + 3_600_000) },
        },
      }),
    });
    await body(journal, clock);
  } finally {
    await journal.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("NodeLiveness keeps a node with an open subscription active however long it lasts", async () => {
  await withActiveNode(async (journal, clock) => {
    const liveness = new NodeLiveness({ journal, clock, timeoutMs: 1_000, author: AUTHOR });
    const close = liveness.connected("n1");
    clock.advance(60_000);
    assert.deepEqual(await liveness.sweep(), []);
    assert.equal(journal.state.enrollment.nodes.get("n1")?.state, EnrollmentState.ACTIVE);
    close();
    close(); // closing twice counts once
    assert.equal(liveness.openCount("n1"), 0);
  });
});

Deno.test("NodeLiveness deactivates a node silent for longer than the timeout, once", async () => {
  await withActiveNode(async (journal, clock) => {
    const liveness = new NodeLiveness({ journal, clock, timeoutMs: 1_000, author: AUTHOR });
    liveness.connected("n1")();
    clock.advance(1_000);
    assert.deepEqual(await liveness.sweep(), [], "exactly the timeout is not past it");
    clock.advance(1);
    assert.deepEqual(await liveness.sweep(), ["n1"]);
    assert.equal(journal.state.enrollment.nodes.get("n1")?.state, EnrollmentState.INACTIVE);
    assert.deepEqual(await liveness.sweep(), [], "an inactive node is left alone");
  });
});

Deno.test("NodeLiveness gives nodes the full timeout after the journal starts watching", async () => {
  await withActiveNode(async (journal, clock) => {
    clock.advance(10_000); // the node was activated long ago...
    const liveness = new NodeLiveness({ journal, clock, timeoutMs: 1_000, author: AUTHOR });
    assert.deepEqual(await liveness.sweep(), [], "...but this journal only just started");
    clock.advance(1_001);
    assert.deepEqual(await liveness.sweep(), ["n1"]);
  });
});
