import assert from "node:assert/strict";
import { DeclaredState } from "../../shared/proto/gen/pact/config/config.ts";
import {
  type BootConfigChunk,
  NodeDeltaEntries,
} from "../../shared/proto/gen/pact/stream/stream.ts";
import { sha256Hex } from "../../shared/hash.ts";
import { compressOverlaySync } from "../../journal/boot/overlay_codec.ts";
import { commit } from "../../shared/testing/entries.ts";
import { sandboxHost } from "../host/sandbox_host.ts";
import { verifyBootConfig } from "./boot_config.ts";
import { BootError } from "./boot_error.ts";
import { ConfigCache } from "./config_cache.ts";

/** A stream as the journal sends it: overlay in `parts` chunks, a node delta, the marker. */
function stream(parts = 2): BootConfigChunk[] {
  const overlay = compressOverlaySync(
    DeclaredState.fromPartial({ sysctl: { "vm.swappiness": "10" } }),
  );
  const size = Math.ceil(overlay.data.length / parts);
  const chunks: BootConfigChunk[] = Array.from({ length: parts }, (_, i) => ({
    chunk: {
      $case: "overlay",
      value: {
        version: 4,
        vclusterId: "ml",
        data: overlay.data.slice(i * size, (i + 1) * size),
        chunkIndex: i,
        totalChunks: parts,
        checksum: overlay.checksum,
        encoding: "zstd",
        contentChecksum: overlay.contentChecksum,
        contentBytes: overlay.contentBytes,
      },
    },
  }));
  const delta = NodeDeltaEntries.encode({ entries: [commit("n1", "tuning")] }).finish();
  return [
    ...chunks,
    {
      chunk: {
        $case: "nodeDelta",
        value: { nodeId: "n1", version: 5, data: delta, checksum: sha256Hex(delta) },
      },
    },
    {
      chunk: {
        $case: "complete",
        value: {
          baseVersion: 4,
          nodeVersion: 5,
          timestamp: new Date(0),
          policy: undefined,
          configVersion: 5,
          vclusterId: "ml",
          unchanged: false,
        },
      },
    },
  ];
}

function refusal(messages: BootConfigChunk[]): string {
  try {
    verifyBootConfig(messages, "j1:9443");
  } catch (err) {
    assert.ok(err instanceof BootError);
    assert.equal(err.reason, "CONFIG_CORRUPT");
    assert.equal(err.code, "VALIDATION");
    return err.message;
  }
  assert.fail("expected a refusal");
}

Deno.test("verifyBootConfig() reassembles chunks, checks both checksums and decodes overlay and delta", () => {
  const config = verifyBootConfig(stream(3), "j1:9443");
  assert.deepEqual(config.overlay?.sysctl, { "vm.swappiness": "10" });
  assert.equal(config.nodeDelta.length, 1);
  assert.equal(config.nodeDelta[0]!.message, "tuning");
  assert.equal(config.complete.configVersion, 5);
});

Deno.test("verifyBootConfig() refuses a flipped overlay byte, a bad delta checksum, missing or reordered chunks", () => {
  const flipped = stream();
  const first = flipped[0]!.chunk as { value: { data: Uint8Array } };
  first.value.data = first.value.data.map((b, i) => i === 0 ? b ^ 1 : b);
  assert.match(
    refusal(flipped),
    /^Refused boot config from j1:9443: overlay checksum mismatch: expected [0-9a-f]{12}, got [0-9a-f]{12}$/,
  );

  const badDelta = stream();
  (badDelta[2]!.chunk as { value: { checksum: string } }).value.checksum = "ab".repeat(32);
  assert.match(refusal(badDelta), /node delta checksum mismatch: expected abababababab/);

  const missing = stream(3);
  missing.splice(1, 1);
  assert.match(refusal(missing), /overlay chunk 2 arrived as number 1/);

  assert.match(refusal(stream().slice(0, -1)), /ended without a completion marker/);
});

Deno.test("ConfigCache saves atomically through the host and refuses a tampered or foreign cache", async () => {
  const root = await Deno.makeTempDir({ prefix: "pact-boot-cache-" });
  try {
    const host = sandboxHost(root);
    const cache = new ConfigCache(host.files, "/var/lib/pact");
    assert.equal(await cache.load("n1"), undefined, "no cache before the first boot");
    await cache.save(verifyBootConfig(stream(), "j1:9443"), "n1", "j1:9443", Date.UTC(2026, 0, 1));
    const loaded = await cache.load("n1");
    assert.equal(loaded?.config.complete.configVersion, 5);
    assert.equal(loaded?.endpoint, "j1:9443");
    assert.equal((await host.files.stat("/var/lib/pact/boot-config.json"))?.mode, "0600");
    await assert.rejects(cache.load("n2"), /belongs to node n1, not n2/);

    // Change one base64 character of the first chunk: the checksum catches it.
    const path = `${root}/var/lib/pact/boot-config.json`;
    const doc = JSON.parse(await Deno.readTextFile(path));
    const text: string = doc.messages[0];
    const at = text.length - 8;
    doc.messages[0] = text.slice(0, at) + (text[at] === "A" ? "B" : "A") + text.slice(at + 1);
    await Deno.writeTextFile(path, JSON.stringify(doc));
    await assert.rejects(
      cache.load("n1"),
      /Refused boot config from cache \/var\/lib\/pact\/boot-config.json: overlay/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
