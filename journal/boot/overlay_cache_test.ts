import assert from "node:assert/strict";
import { ManualClock } from "../../shared/clock/clock.ts";
import { DeclaredState, EntryType } from "../../shared/proto/gen/pact/config/config.ts";
import { entry, policyUpdate } from "../../shared/testing/entries.ts";
import { Journal } from "../core/journal.ts";
import { SqliteStore } from "../store/sqlite_store.ts";
import { decompress, OVERLAY_CONTENT_BYTES_MAX } from "./overlay_codec.ts";
import { OverlayCache } from "./overlay_cache.ts";
import { warmOverlays } from "./overlay_warmer.ts";

async function withJournal(body: (journal: Journal) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pact-overlay-cache-test-" });
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

function apply(vclusterId: string, declared: Parameters<typeof DeclaredState.fromPartial>[0]) {
  return entry(EntryType.COMMIT, { kind: "vcluster", id: vclusterId }, {
    payload: { $case: "declared", value: DeclaredState.fromPartial(declared) },
  });
}

const versionOf = (journal: Journal, vc: string) => journal.state.vclusters.get(vc)!.version;

function contentOf(data: Uint8Array): DeclaredState {
  return DeclaredState.decode(decompress(data, "zstd", OVERLAY_CONTENT_BYTES_MAX));
}

Deno.test("OverlayCache.get() compresses once for 10,000 concurrent requests of one version", async () => {
  await withJournal(async (journal) => {
    await journal.append({ entry: apply("ml", { sysctl: { "vm.swappiness": "10" } }) });
    const cache = new OverlayCache(journal);
    const version = versionOf(journal, "ml");
    const overlays = await Promise.all(
      Array.from({ length: 10_000 }, () => cache.get("ml", version)),
    );
    assert.equal(cache.builds, 1);
    assert.ok(overlays.every((o) => o === overlays[0]));
    assert.deepEqual(contentOf(overlays[0]!.data).sysctl, { "vm.swappiness": "10" });
    assert.equal(overlays[0]!.version, 0);
  });
});

Deno.test("OverlayCache.get() rebuilds only the vCluster whose overlay changed", async () => {
  await withJournal(async (journal) => {
    await journal.append({ entry: apply("ml", { sysctl: { a: "1" } }) });
    await journal.append({ entry: apply("hpc", { sysctl: { b: "1" } }) });
    const cache = new OverlayCache(journal);
    const ml = await cache.get("ml", versionOf(journal, "ml"));
    await cache.get("hpc", versionOf(journal, "hpc"));
    assert.equal(cache.builds, 2);

    await journal.append({ entry: apply("hpc", { sysctl: { b: "2" } }) });
    assert.equal(await cache.get("ml", versionOf(journal, "ml")), ml);
    const hpc = await cache.get("hpc", versionOf(journal, "hpc"));
    assert.equal(cache.builds, 3);
    assert.deepEqual(contentOf(hpc.data).sysctl, { b: "2" });
  });
});

Deno.test("OverlayCache.get() reuses the bytes when a vCluster changes without touching its overlay", async () => {
  await withJournal(async (journal) => {
    await journal.append({ entry: apply("ml", { sysctl: { a: "1" } }) });
    const cache = new OverlayCache(journal);
    const before = await cache.get("ml", versionOf(journal, "ml"));
    await journal.append({ entry: policyUpdate("ml", { enforcementMode: "enforce" }) });
    const after = await cache.get("ml", versionOf(journal, "ml"));
    assert.equal(after, before);
    assert.equal(cache.builds, 1);
  });
});

Deno.test("OverlayCache.get() serves an empty overlay for a vCluster with only a policy", async () => {
  await withJournal(async (journal) => {
    await journal.append({ entry: policyUpdate("ml") });
    const overlay = await new OverlayCache(journal).get("ml", versionOf(journal, "ml"));
    assert.equal(overlay.version, undefined);
    assert.equal(overlay.chunks.length, 1);
    assert.equal(overlay.contentBytes, 0);
  });
});

Deno.test("OverlayCache evicts the least recently used overlay beyond its byte budget", async () => {
  await withJournal(async (journal) => {
    for (const vc of ["a", "b", "c"]) {
      await journal.append({ entry: apply(vc, { sysctl: { k: vc } }) });
    }
    const cache = new OverlayCache(journal, { vclustersMax: 2 });
    for (const vc of ["a", "b", "c"]) await cache.get(vc, versionOf(journal, vc));
    assert.equal(cache.peek("a"), undefined);
    assert.ok(cache.peek("b") && cache.peek("c"));
  });
});

Deno.test("warmOverlays() rebuilds a vCluster's overlay as soon as an overlay entry commits", async () => {
  await withJournal(async (journal) => {
    const cache = new OverlayCache(journal);
    const warmer = warmOverlays(journal, cache, (err) => assert.fail(`${err}`));
    try {
      await journal.append({ entry: apply("ml", { modules: ["nvidia"] }) });
      await journal.append({ entry: policyUpdate("hpc") });
      // Let the subscription deliver, then wait for the rebuild it scheduled.
      await new Promise((resolve) => setTimeout(resolve, 20));
      await warmer.idle();
      assert.equal(cache.peek("ml")?.version, 0);
      assert.equal(cache.peek("hpc"), undefined);
      assert.equal(cache.builds, 1);
    } finally {
      warmer.stop();
    }
  });
});
