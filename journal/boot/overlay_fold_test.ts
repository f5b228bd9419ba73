import assert from "node:assert/strict";
import {
  type ConfigEntry,
  DeclaredState,
  DeltaAction,
  EntryType,
  StateDelta,
} from "../../shared/proto/gen/pact/config/config.ts";
import { entry, overlayUpdate } from "../../shared/testing/entries.ts";
import { compressOverlaySync, decodeBootOverlay } from "./overlay_codec.ts";
import { foldOverlay } from "./overlay_fold.ts";

const VC = { kind: "vcluster", id: "ml" } as const;

function declaredCommit(
  sequence: number,
  declared: Parameters<typeof DeclaredState.fromPartial>[0],
) {
  return entry(EntryType.COMMIT, VC, {
    sequence,
    payload: { $case: "declared", value: DeclaredState.fromPartial(declared) },
  });
}

function deltaCommit(sequence: number, delta: Parameters<typeof StateDelta.fromPartial>[0]) {
  return entry(EntryType.COMMIT, VC, {
    sequence,
    payload: { $case: "stateDelta", value: StateDelta.fromPartial(delta) },
  });
}

Deno.test("foldOverlay() merges declared commits item by item and sorts the result", () => {
  const folded = foldOverlay([
    declaredCommit(3, {
      sysctl: { "vm.swappiness": "10", "kernel.pid_max": "4194304" },
      modules: ["nvidia"],
      mounts: [{ path: "/scratch", spec: { fsType: "nfs", source: "s:/a" } }],
      baseImage: "alps-ml-2026q1",
    }),
    declaredCommit(7, {
      sysctl: { "vm.swappiness": "1" },
      modules: ["lustre"],
      mounts: [{ path: "/home", spec: { fsType: "nfs", source: "s:/home" } }],
    }),
  ], decodeBootOverlay);
  assert.equal(folded.version, 7);
  assert.deepEqual(Object.entries(folded.declared.sysctl), [
    ["kernel.pid_max", "4194304"],
    ["vm.swappiness", "1"],
  ]);
  assert.deepEqual(folded.declared.modules, ["lustre", "nvidia"]);
  assert.deepEqual(folded.declared.mounts.map((m) => m.path), ["/home", "/scratch"]);
  assert.equal(folded.declared.baseImage, "alps-ml-2026q1");
  assert.equal(folded.keySequences.get("sysctl:vm.swappiness"), 7);
  assert.equal(folded.keySequences.get("sysctl:kernel.pid_max"), 3);
});

Deno.test("foldOverlay() applies state deltas: add, modify and remove per dimension", () => {
  const folded = foldOverlay([
    declaredCommit(1, { sysctl: { a: "1", b: "2" }, packages: { slurm: "23" }, modules: ["x"] }),
    deltaCommit(2, {
      kernel: [
        { key: "a", action: DeltaAction.REMOVE },
        { key: "c", action: DeltaAction.ADD, declaredValue: "3" },
        { key: "module:x", action: DeltaAction.REMOVE },
        { key: "module:y", action: DeltaAction.ADD },
      ],
      packages: [{ name: "slurm", action: DeltaAction.MODIFY, version: "24" }],
      mounts: [{
        path: "/m",
        action: DeltaAction.ADD,
        declared: { fsType: "nfs", source: "s:/m" },
      }],
      gpu: [{ gpuIndex: 0, action: DeltaAction.MODIFY, detail: "ignored" }],
    }),
  ], decodeBootOverlay);
  assert.deepEqual(folded.declared.sysctl, { b: "2", c: "3" });
  assert.deepEqual(folded.declared.modules, ["y"]);
  assert.deepEqual(folded.declared.packages, { slurm: "24" });
  assert.equal(folded.declared.mounts[0]!.spec!.source, "s:/m");
  assert.equal(folded.keySequences.get("sysctl:a"), 2);
  assert.equal(folded.keySequences.get("module:x"), 2);
});

Deno.test("foldOverlay() lets an OVERLAY_UPDATE replace everything before it", () => {
  const replacement = compressOverlaySync(DeclaredState.fromPartial({ sysctl: { z: "9" } }));
  const update: ConfigEntry = {
    ...overlayUpdate("ml", replacement.data, { encoding: "zstd" }),
    sequence: 5,
  };
  const folded = foldOverlay(
    [declaredCommit(1, { sysctl: { a: "1" }, modules: ["m"] }), update],
    decodeBootOverlay,
  );
  assert.deepEqual(folded.declared.sysctl, { z: "9" });
  assert.deepEqual(folded.declared.modules, []);
  assert.equal(folded.keySequences.get("sysctl:a"), 5);
  assert.equal(folded.keySequences.get("sysctl:z"), 5);
});

Deno.test("foldOverlay() skips an OVERLAY_UPDATE whose data is not a DeclaredState", () => {
  const bad = { ...overlayUpdate("ml", new Uint8Array([0xff, 0xff, 0xff])), sequence: 2 };
  const folded = foldOverlay([declaredCommit(1, { sysctl: { a: "1" } }), bad], decodeBootOverlay);
  assert.deepEqual(folded.declared.sysctl, { a: "1" });
  assert.equal(folded.version, 2);
});

Deno.test("foldOverlay() of nothing is empty with no version", () => {
  const folded = foldOverlay([], decodeBootOverlay);
  assert.equal(folded.version, undefined);
  assert.equal(DeclaredState.encode(folded.declared).finish().length, 0);
});

Deno.test("foldOverlay() gives the same bytes whatever order the items were declared in", () => {
  const a = foldOverlay([
    declaredCommit(1, {
      sysctl: { b: "2", a: "1" },
      packages: { z: "1", y: "2" },
      services: [{ name: "b", env: { Y: "1", X: "2" } }, { name: "a" }],
    }),
  ], decodeBootOverlay);
  const b = foldOverlay([
    declaredCommit(1, {
      sysctl: { a: "1", b: "2" },
      packages: { y: "2", z: "1" },
      services: [{ name: "a" }, { name: "b", env: { X: "2", Y: "1" } }],
    }),
  ], decodeBootOverlay);
  assert.deepEqual(compressOverlaySync(a.declared).data, compressOverlaySync(b.declared).data);
});
