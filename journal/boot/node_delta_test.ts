import assert from "node:assert/strict";
import {
  type ConfigEntry,
  DeclaredState,
  DeltaAction,
  EnrollmentRecord,
  EntryType,
  StateDelta,
} from "../../shared/proto/gen/pact/config/config.ts";
import { commit, entry } from "../../shared/testing/entries.ts";
import { nodeDelta } from "./node_delta.ts";
import { withBootEntry } from "../state/boot_entries.ts";

const T0 = Date.UTC(2026, 0, 1);

function deltaCommit(sequence: number, keys: string[], fields = {}) {
  return commit("n1", `c${sequence}`, {
    sequence,
    timestamp: new Date(T0),
    payload: {
      $case: "stateDelta",
      value: StateDelta.fromPartial({
        kernel: keys.map((key) => ({ key, action: DeltaAction.MODIFY, declaredValue: "1" })),
      }),
    },
    ...fields,
  });
}

Deno.test("nodeDelta() keeps committed deltas in order and reports the latest sequence", () => {
  const result = nodeDelta([deltaCommit(2, ["a"]), deltaCommit(5, ["b"])], new Map(), T0);
  assert.deepEqual(result.entries.map((e) => e.sequence), [2, 5]);
  assert.equal(result.version, 5);
});

Deno.test("nodeDelta() drops items a later overlay change declares again", () => {
  const overlayKeys = new Map([["sysctl:a", 4], ["sysctl:b", 1]]);
  const result = nodeDelta([deltaCommit(2, ["a", "b"]), deltaCommit(3, ["a"])], overlayKeys, T0);
  // seq 2: `a` superseded by the overlay at seq 4, `b` kept (overlay set it before).
  assert.equal(result.entries.length, 1);
  const only = result.entries[0]!;
  assert.equal(only.sequence, 2);
  assert.deepEqual(
    only.payload?.$case === "stateDelta" && only.payload.value.kernel.map((k) => k.key),
    ["b"],
  );
  assert.equal(result.version, 3);
});

Deno.test("nodeDelta() trims declared payloads the same way", () => {
  const declared = commit("n1", "declared", {
    sequence: 1,
    payload: {
      $case: "declared",
      value: DeclaredState.fromPartial({ sysctl: { a: "1" }, mounts: [{ path: "/m" }] }),
    },
  });
  const result = nodeDelta([declared], new Map([["mount:/m", 2]]), T0);
  const payload = result.entries[0]!.payload;
  assert.ok(payload?.$case === "declared");
  assert.deepEqual(payload.value.sysctl, { a: "1" });
  assert.deepEqual(payload.value.mounts, []);
});

Deno.test("nodeDelta() leaves out expired TTL deltas and commits without a payload", () => {
  const result = nodeDelta(
    [
      deltaCommit(1, ["a"], { ttlSeconds: 900 }),
      commit("n1", "no payload", { sequence: 2 }),
      deltaCommit(3, ["b"], { ttlSeconds: 3600 }),
    ],
    new Map(),
    T0 + 900_000,
  );
  assert.deepEqual(result.entries.map((e) => e.sequence), [3]);
  assert.equal(result.version, 3);
});

Deno.test("nodeDelta() counts vCluster assignments in the version but sends none", () => {
  const assigned = entry(EntryType.NODE_ASSIGNED, { kind: "node", id: "n1" }, {
    sequence: 9,
    payload: { $case: "enrollment", value: EnrollmentRecord.fromPartial({ vclusterId: "ml" }) },
  });
  const result = nodeDelta([deltaCommit(1, ["a"]), assigned], new Map(), T0);
  assert.deepEqual(result.entries.map((e) => e.sequence), [1]);
  assert.equal(result.version, 9);
  assert.equal(nodeDelta([], new Map(), T0).version, undefined);
});

Deno.test("nodeDelta() leaves out a commit a Rollback names as parent, and re-applies no rollback", () => {
  const rollbackOf = (sequence: number, parent: number | undefined, keys: string[] = []) =>
    entry(EntryType.ROLLBACK, { kind: "node", id: "n1" }, {
      sequence,
      ...(parent === undefined ? {} : { parent }),
      payload: {
        $case: "stateDelta",
        value: StateDelta.fromPartial({
          kernel: keys.map((key) => ({ key, action: DeltaAction.MODIFY, actualValue: "9" })),
        }),
      },
    });
  const entries = [
    deltaCommit(2, ["a"]),
    deltaCommit(3, ["b"]),
    // The agent reverting drift: its delta names what was undone, not a declared value.
    rollbackOf(4, undefined, ["c"]),
    // `pact rollback 2`: the committed change of seq 2 no longer counts.
    rollbackOf(5, 2),
  ];
  const result = nodeDelta(entries, new Map(), T0);
  assert.deepEqual(result.entries.map((e) => e.sequence), [3]);
  assert.equal(result.version, 5);
  // Kept through the state's per-node list, in any order of arrival.
  let kept: readonly ConfigEntry[] = [];
  for (const e of entries) kept = withBootEntry(kept, e);
  assert.deepEqual(kept.map((e) => e.sequence), [2, 3, 5]);
  assert.deepEqual(nodeDelta(kept, new Map(), T0), result);
});
