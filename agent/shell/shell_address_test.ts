import assert from "node:assert/strict";
import { BootRecord, type ConfigEntry } from "../../shared/proto/gen/pact/config/config.ts";
import { journalShellAddress, reachableAddress } from "./shell_address.ts";

Deno.test("reachableAddress() names the node id when the shell listens on every address", () => {
  assert.equal(reachableAddress("node042", { host: "0.0.0.0", port: 9445 }), "node042:9445");
  assert.equal(reachableAddress("node042", { host: "::", port: 9445 }), "node042:9445");
  assert.equal(reachableAddress("n1", { host: "127.0.0.1", port: 40123 }), "127.0.0.1:40123");
  assert.equal(reachableAddress("n1", { host: "fd00::1", port: 9445 }), "[fd00::1]:9445");
});

Deno.test("reachableAddress() prefixes the scheme when given one", () => {
  assert.equal(reachableAddress("n1", { host: "0.0.0.0", port: 9445 }, "https"), "https://n1:9445");
  assert.equal(
    reachableAddress("n1", { host: "127.0.0.1", port: 1 }, "http"),
    "http://127.0.0.1:1",
  );
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
  assert.equal(payload.value.shellAddress, "http://127.0.0.1:40123");
  assert.equal(payload.value.totalMs, 42);
  assert.match(appended[0]!.message, /^shell listening on http:\/\/127\.0\.0\.1:40123/);
});

Deno.test("journalShellAddress() records https and the note when the shell serves TLS", async () => {
  const appended: ConfigEntry[] = [];
  await journalShellAddress({
    nodeId: "n1",
    record: BootRecord.fromPartial({ totalMs: 1 }),
    journal: { append: (entry) => Promise.resolve(appended.push(entry)) },
    log: () => {},
    tls: true,
    note: "TLS: enrolled certificate 01",
  }, { host: "0.0.0.0", port: 9445 });
  const payload = appended[0]!.payload;
  assert.ok(payload?.$case === "boot");
  assert.equal(payload.value.shellAddress, "https://n1:9445");
  assert.match(appended[0]!.message, /^shell listening on https:\/\/n1:9445 \(TLS: enrolled/);
});
