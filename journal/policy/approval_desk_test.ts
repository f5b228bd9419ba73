import assert from "node:assert/strict";
import { ManualClock } from "../../shared/clock/clock.ts";
import { isPactError } from "../../shared/errors/mod.ts";
import {
  ApprovalStatus,
  EnrollmentRecord,
  EntryType,
  type Identity,
  PrincipalType,
} from "../../shared/proto/gen/pact/config/config.ts";
import { commit, entry } from "../../shared/testing/entries.ts";
import { Journal } from "../core/journal.ts";
import { FileSnapshotStore } from "../snapshot/file_snapshot_store.ts";
import { decodeSnapshot, encodeSnapshot } from "../state/snapshot_codec.ts";
import { SqliteStore } from "../store/sqlite_store.ts";
import { ApprovalDesk, type DeferredOperation } from "./approval_desk.ts";

const ALICE: Identity = {
  principal: "alice@example.org",
  principalType: PrincipalType.HUMAN,
  role: "pact-ops-sc",
};
const BOB: Identity = {
  principal: "bob@example.org",
  principalType: PrincipalType.HUMAN,
  role: "pact-regulated-sc",
};

interface Fixture {
  journal: Journal;
  clock: ManualClock;
  desk: ApprovalDesk;
  dir: string;
}

async function withDesk(body: (fx: Fixture) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pact-approval-test-" });
  const clock = new ManualClock(Date.UTC(2026, 10, 22, 12));
  const journal = await Journal.open({
    store: new SqliteStore(`${dir}/journal.db`),
    snapshots: new FileSnapshotStore(`${dir}/snapshots`),
    clock,
  });
  await journal.append({
    entry: entry(EntryType.NODE_ASSIGNED, { kind: "node", id: "n1" }, {
      payload: {
        $case: "enrollment",
        value: EnrollmentRecord.fromPartial({ nodeId: "n1", vclusterId: "sc" }),
      },
    }),
  });
  const desk = new ApprovalDesk({ journal, clock, nodeId: "1" });
  try {
    await body({ journal, clock, desk, dir });
  } finally {
    await journal.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function deferred(requestId: string, fields: Partial<DeferredOperation> = {}): DeferredOperation {
  return {
    entry: commit("n1", "hugepages", { author: ALICE, requestId }),
    expectedScopeVersion: 0,
    action: "commit",
    vclusterId: "sc",
    timeoutSeconds: 1800,
    policyRef: "approval:default:commit",
    ...fields,
  };
}

function commitsOf(journal: Journal): number {
  return journal.state.entryCounts.get(EntryType.COMMIT) ?? 0;
}

Deno.test("ApprovalDesk runs an approved operation exactly once, authored by the requester", async () => {
  await withDesk(async ({ journal, desk }) => {
    const pending = await desk.request(deferred("req-1"));
    assert.match(pending.approvalId, /^ap-[0-9a-f]{8}$/);
    const again = await desk.request(deferred("req-1"));
    assert.equal(again.approvalId, pending.approvalId, "same request id, same approval");
    assert.equal(again.duplicate, true);
    assert.equal(commitsOf(journal), 0, "nothing runs before approval");

    const decided = await desk.decide(BOB, pending.approvalId, ApprovalStatus.APPROVED, "");
    assert.notEqual(decided.executedSequence, undefined);
    const record = journal.state.approvals.get(pending.approvalId)!;
    assert.equal(record.status, ApprovalStatus.APPROVED);
    assert.equal(record.approver?.principal, BOB.principal);
    assert.equal(record.executedSequence, decided.executedSequence);
    const [executed] = await journal.read({
      fromSequence: decided.executedSequence!,
      toSequence: decided.executedSequence!,
      limit: 1,
    });
    assert.equal(executed?.author?.principal, ALICE.principal);
    assert.equal(executed?.metadata["approval_id"], pending.approvalId);
    assert.equal(commitsOf(journal), 1);

    await assert.rejects(
      desk.decide(BOB, pending.approvalId, ApprovalStatus.APPROVED, ""),
      (err) => isPactError(err, "VALIDATION") && /already approved/.test(err.message),
    );
    await desk.tick();
    assert.equal(commitsOf(journal), 1, "approved once, run once");
  });
});

Deno.test("ApprovalDesk refuses self-approval but lets the requester withdraw", async () => {
  await withDesk(async ({ journal, desk }) => {
    const { approvalId } = await desk.request(deferred("req-2"));
    await assert.rejects(
      desk.decide(ALICE, approvalId, ApprovalStatus.APPROVED, ""),
      (err) => isPactError(err, "POLICY_DENIED") && /cannot approve their own/.test(err.message),
    );
    await desk.decide(ALICE, approvalId, ApprovalStatus.REJECTED, "changed my mind");
    const record = journal.state.approvals.get(approvalId)!;
    assert.equal(record.status, ApprovalStatus.REJECTED);
    assert.equal(record.reason, "changed my mind");
    assert.equal(record.operation.length, 0, "a rejected operation is dropped");
    assert.equal(commitsOf(journal), 0);
  });
});

Deno.test("ApprovalDesk.tick() expires requests past their time once, even when run twice", async () => {
  await withDesk(async ({ journal, desk, clock }) => {
    const { approvalId } = await desk.request(deferred("req-3", { timeoutSeconds: 60 }));
    clock.advance(59_000);
    await desk.tick();
    assert.equal(journal.state.approvals.get(approvalId)!.status, ApprovalStatus.PENDING);
    clock.advance(1_000);
    // Two journals of a quorum may both run the timer: one Expired entry lands.
    const other = new ApprovalDesk({ journal, clock, nodeId: "2" });
    await Promise.all([desk.tick(), other.tick()]);
    const record = journal.state.approvals.get(approvalId)!;
    assert.equal(record.status, ApprovalStatus.EXPIRED);
    assert.equal(record.approver, undefined);
    assert.equal(journal.state.entryCounts.get(EntryType.APPROVAL_DECISION), 1);
    await assert.rejects(
      desk.decide(BOB, approvalId, ApprovalStatus.APPROVED, ""),
      (err) => isPactError(err, "VALIDATION") && /already expired/.test(err.message),
    );
    assert.equal(commitsOf(journal), 0);
  });
});

Deno.test("ApprovalDesk.decide() on an overdue request expires it instead of approving", async () => {
  await withDesk(async ({ journal, desk, clock }) => {
    const { approvalId } = await desk.request(deferred("req-4", { timeoutSeconds: 10 }));
    clock.advance(10_000);
    await assert.rejects(
      desk.decide(BOB, approvalId, ApprovalStatus.APPROVED, ""),
      (err) => isPactError(err, "POLICY_DENIED") && /expired/.test(err.message),
    );
    assert.equal(journal.state.approvals.get(approvalId)!.status, ApprovalStatus.EXPIRED);
    assert.equal(commitsOf(journal), 0);
  });
});

Deno.test("ApprovalDesk records an approved operation that conflicts and never retries it", async () => {
  await withDesk(async ({ journal, desk }) => {
    const version = journal.state.nodes.get("n1")!.version;
    const { approvalId } = await desk.request(
      deferred("req-5", { expectedScopeVersion: version }),
    );
    // Another write moves the node on while the request waits.
    await journal.append({ entry: commit("n1", "meanwhile") });
    await assert.rejects(
      desk.decide(BOB, approvalId, ApprovalStatus.APPROVED, ""),
      (err) => isPactError(err, "CONFLICT") && /could not run/.test(err.message),
    );
    const record = journal.state.approvals.get(approvalId)!;
    assert.equal(record.status, ApprovalStatus.APPROVED);
    assert.match(record.executionError ?? "", /version/);
    await desk.tick();
    assert.equal(commitsOf(journal), 1, "only the other write");
  });
});

Deno.test("approval books move no scope version and survive a snapshot", async () => {
  await withDesk(async ({ journal, desk }) => {
    const vcVersion = journal.state.vclusters.get("sc")?.version;
    const nodeVersion = journal.state.nodes.get("n1")!.version;
    const { approvalId } = await desk.request(deferred("req-6"));
    assert.equal(journal.state.vclusters.get("sc")?.version, vcVersion);
    assert.equal(journal.state.nodes.get("n1")!.version, nodeVersion);
    const restored = decodeSnapshot(encodeSnapshot(journal.state));
    const before = journal.state.approvals.get(approvalId)!;
    const after = restored.approvals.get(approvalId)!;
    assert.deepEqual(after, before);
  });
});
