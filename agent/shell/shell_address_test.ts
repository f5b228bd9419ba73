import assert from "node:assert/strict";
import { BootRecord, type ConfigEntry } from "../../shared/proto/gen/pact/config/config.ts";
import { journalShellAddress, reachableAddress } from "./shell_address.ts";

Deno.test("reachableAddress() names the node id when the shell listens on every address", () => {
  assert.equal(reachableAddress("node042", { host: "0.0.0.0", port: 9445 }), "node042:9445");
  assert.equal(reachableAddress("node042", { host: "::", port: 9445 }), "node042:9445");
  assert.equal(reachableAddress("n1", { host: "127.0.0.1", port: 40123 }), "127.0.0.1:40123");
  assert.equal(reachableAddress("n1", { host: "fd00::1", port: 9445 }), "[fd00::1]:9445");
});

Deno.test("journalShellAddress() journals the boot record again with the address", async () => {
  const appended: ConfigEntry[] = [];
  await journalShellAddress({
    nodeId: "n1",
    record: BootRecord.fromPartial({ totalMs: 42 }),
    journal: { append: (entry) => Promise.resolve(appended.push(entry)) },
    log: () => {},
  }, { host: "127.0.0.1", port: 40123 });
  assert.equal(appended.length, 1);
  const payload = appended[0]!.payload;
  assert.ok(payload?.$case === "boot");
  assert.equal(payload.value.shellAddress, "127.0.0.1:40123");
  assert.equal(payload.value.totalMs, 42);
  assert.match(appended[0]!.message, /^shell listening on 127\.0\.0\.1:40123/);
});
