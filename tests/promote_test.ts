/**
 * `pact diff --committed`, `pact rollback <seq>` and `pact promote` against
 * a real journal: a node's committed deltas (node-scoped Commit entries
 * with a StateDelta) are listed with their sequences, one is rolled back
 * by sequence, the rest render as an overlay fragment that `pact apply`
 * accepts, after which the node has only its unmappable delta left. The
 * conflict report is checked on the pure renderer.
 */
import assert from "node:assert/strict";
import { JournalClient } from "../cli/client/journal_client.ts";
import { foldCommitted } from "../cli/ops/diff.ts";
import { renderPromote } from "../cli/ops/promote.ts";
import { parseApplySpec } from "../cli/ops/apply_spec.ts";
import { DeltaAction, EntryType, StateDelta } from "../shared/proto/gen/pact/config/config.ts";
import { commit, entry } from "../shared/testing/entries.ts";
import { runPact } from "./harness/cli_process.ts";
import { JournalProcess } from "./harness/journal_process.ts";

function delta(partial: Parameters<typeof StateDelta.fromPartial>[0]) {
  return { $case: "stateDelta" as const, value: StateDelta.fromPartial(partial) };
}

Deno.test("pact diff --committed, rollback <seq> and promote round-trip through pact apply", async () => {
  const journal = await JournalProcess.start();
  const dir = await Deno.makeTempDir({ prefix: "pact-test-promote-" });
  try {
    const admin = new JournalClient({
      endpoint: journal.endpoint,
      token: await journal.token(),
      timeoutSeconds: 10,
    });
    const append = async (e: Parameters<JournalClient["appendEntry"]>[0]["entry"]) =>
      (await admin.appendEntry({ entry: e })).sequence;
    const hugepages = await append(commit("n1", "hugepages", {
      payload: delta({
        kernel: [{ key: "vm.nr_hugepages", action: DeltaAction.MODIFY, actualValue: "1024" }],
      }),
    }));
    const scratch = await append(commit("n1", "scratch", {
      payload: delta({
        mounts: [{
          path: "/local-scratch",
          action: DeltaAction.ADD,
          actual: { fsType: "nfs", source: "storage03:/scratch", options: "", readOnly: false },
        }],
        gpu: [{ gpuIndex: 3, action: DeltaAction.MODIFY, detail: "ECC uncorrectable: 12" }],
      }),
    }));
    const debug = await append(commit("n1", "debug tools", {
      payload: delta({ packages: [{ name: "htop", action: DeltaAction.ADD, version: "3.2" }] }),
    }));
    admin.close();
    const env = {
      PACT_TOKEN: await journal.token(),
      PACT_ENDPOINT: journal.endpoint,
      PACT_VCLUSTER: "ml",
    };

    const listed = await runPact(["diff", "--committed", "n1"], env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(
      listed.stdout,
      new RegExp(
        `^kernel: vm.nr_hugepages = 1024  \\(committed seq:${hugepages}, just now\\)$`,
        "m",
      ),
    );
    assert.match(
      listed.stdout,
      new RegExp(
        `^mounts: /local-scratch type=nfs source=storage03:/scratch  \\(committed seq:${scratch}, `,
        "m",
      ),
    );
    assert.match(listed.stdout, /^packages: htop 3\.2 /m);

    // Rolling back a committed change by sequence: it no longer counts.
    const rollback = await runPact(["rollback", String(debug), "-m", "not needed", "--json"], env);
    assert.equal(rollback.code, 0, rollback.stderr);
    assert.equal(JSON.parse(rollback.stdout).parent, debug);
    const notCommit = await runPact(
      ["rollback", String(JSON.parse(rollback.stdout).sequence)],
      env,
    );
    assert.equal(notCommit.code, 1);
    assert.match(notCommit.stderr, /not a node's Commit/);

    const dry = await runPact(["promote", "n1", "--dry-run"], env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(
      dry.stdout,
      /^Would export 2 deltas from n1 to vcluster ml \(sections: sysctl, mounts\)/,
    );
    assert.match(dry.stdout, /not mappable: gpu gpu\[3\] modify/);
    assert.doesNotMatch(dry.stdout, /htop/);

    const promoted = await runPact(["promote", "n1"], env);
    assert.equal(promoted.code, 0, promoted.stderr);
    assert.match(promoted.stdout, /\[vcluster\.ml\.sysctl\]\n"vm\.nr_hugepages" = "1024"\n/);
    assert.match(
      promoted.stdout,
      /\[vcluster\.ml\.mounts\]\n"\/local-scratch" = \{ type = "nfs", source = "storage03:\/scratch" \}\n/,
    );
    const file = `${dir}/promote.toml`;
    await Deno.writeTextFile(file, promoted.stdout);
    const applied = await runPact(["apply", file], env);
    assert.equal(applied.code, 0, applied.stderr + applied.stdout);

    // The overlay now holds both keys: only the GPU delta is left on the node.
    const after = await runPact(["diff", "--committed", "n1", "--json"], env);
    assert.equal(after.code, 0, after.stderr);
    const items = (JSON.parse(after.stdout) as { items: { dimension: string }[] }).items;
    assert.deepEqual(items.map((i) => i.dimension), ["gpu"]);
    assert.equal(
      (await runPact(["diff", "--committed", "n2"], env)).stdout,
      "(no committed node deltas)\n",
    );
  } finally {
    await journal.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("promote reports another node's different value key by key and still renders valid TOML", () => {
  const now = Date.now();
  const items = foldCommitted(
    [
      commit("n1", "a", {
        sequence: 5,
        timestamp: new Date(now - 3 * 86_400_000),
        payload: delta({
          kernel: [{ key: "vm.swappiness", action: DeltaAction.MODIFY, actualValue: "10" }],
          files: [{ path: "/etc/motd", action: DeltaAction.MODIFY, contentHash: "sha256:ab" }],
          network: [{ interface: "ib0", action: DeltaAction.MODIFY, detail: "10.1.0.5/16" }],
          services: [{ name: "chronyd", action: DeltaAction.ADD, actualState: "running" }],
        }),
      }),
      commit("n1", "b", {
        sequence: 7,
        payload: delta({
          kernel: [{ key: "vm.swappiness", action: DeltaAction.MODIFY, actualValue: "20" }],
        }),
      }),
      entry(EntryType.ROLLBACK, { kind: "node", id: "n1" }, { sequence: 9, parent: 3 }),
    ],
    new Map(),
    now,
  );
  assert.deepEqual(items.map((i) => [i.key, i.value, i.sequence]), [
    ["/etc/motd", "content_hash=sha256:ab", 5],
    ["chronyd", "running", 5],
    ["ib0", "10.1.0.5/16", 5],
    ["vm.swappiness", "20", 7],
  ]);
  const view = renderPromote(
    { node: "n1", vcluster: "ml", items, sequences: [5, 7] },
    "ml",
    [{
      dimension: "kernel",
      key: "vm.swappiness",
      value: "20",
      other_node: "n2",
      other_value: "30",
      other_sequence: 8,
    }],
  );
  assert.match(view.toml, /# CONFLICT kernel vm\.swappiness: n1 has 20, n2 has 30 \(seq:8\)/);
  assert.deepEqual(view.sections, ["sysctl", "files", "services.chronyd", "network"]);
  const parsed = parseApplySpec(view.toml);
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.problems));
  const declared = parsed.spec.vclusters[0]!.declared!;
  assert.equal(declared.sysctl["vm.swappiness"], "20");
  assert.equal(declared.network[0]?.address, "10.1.0.5/16");
  assert.equal(declared.files[0]?.contentHash, "sha256:ab");
});
