import assert from "node:assert/strict";
import { BootRecord, EntryType } from "../../shared/proto/gen/pact/config/config.ts";
import { entry } from "../../shared/testing/entries.ts";
import { applyEntry } from "./reduce.ts";
import { emptyState, type JournalState } from "./state.ts";

function boot(state: JournalState, record: Partial<BootRecord>): JournalState {
  return applyEntry(
    state,
    entry(EntryType.BOOT_CONFIG, { kind: "node", id: "n1" }, {
      sequence: state.nextSequence,
      payload: { $case: "boot", value: BootRecord.fromPartial(record) },
    }),
  );
}

Deno.test("applyEntry() keeps the node's last reported shell address across boot records without one", () => {
  let state = boot(emptyState(), { totalMs: 10 });
  assert.equal(state.nodes.get("n1")!.lastBoot!.shellAddress, "");
  state = boot(state, { totalMs: 10, shellAddress: "127.0.0.1:4000" });
  assert.equal(state.nodes.get("n1")!.lastBoot!.shellAddress, "127.0.0.1:4000");
  // A boot record retried late (no address) neither erases the address nor its own fields.
  state = boot(state, { totalMs: 12 });
  assert.equal(state.nodes.get("n1")!.lastBoot!.shellAddress, "127.0.0.1:4000");
  assert.equal(state.nodes.get("n1")!.lastBoot!.totalMs, 12);
  // A new address replaces it.
  state = boot(state, { totalMs: 9, shellAddress: "n1:9445" });
  assert.equal(state.nodes.get("n1")!.lastBoot!.shellAddress, "n1:9445");
});
