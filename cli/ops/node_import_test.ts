import assert from "node:assert/strict";
import { parseImportFile } from "./node_import.ts";

Deno.test("parseImportFile() reads a CSV with comments, any column order and optional columns", () => {
  const rows = parseImportFile(
    [
      "# rack 12",
      "vcluster,hardware_id,node_id",
      "ml,52:54:00:00:00:01,n1",
      "",
      ",4C4C4544-0042-3510-8052-B4C04F564433,n2",
    ].join("\n"),
    "rack.csv",
  );
  assert.deepEqual(rows.map((r) => [r.line, r.nodeId, r.vcluster]), [[3, "n1", "ml"], [
    5,
    "n2",
    "",
  ]]);
  assert.equal(rows[0]!.hardware.macAddress, "52:54:00:00:00:01");
  assert.equal(rows[1]!.hardware.smbiosUuid, "4C4C4544-0042-3510-8052-B4C04F564433");
});

Deno.test("parseImportFile() reports every bad line with its number and registers nothing", () => {
  const text = [
    "node_id,hardware_id,bmc_serial",
    "n1,52:54:00:00:00:01,SN1",
    "n2,zz,SN2",
    "n1,52:54:00:00:00:03,",
    "bad id!,52:54:00:00:00:04,",
    "n5,52:54:00:00:00:05",
  ].join("\n");
  assert.throws(() => parseImportFile(text, "nodes.csv"), (err: Error) => {
    const lines = err.message.split("\n");
    assert.equal(lines[0], "Cannot import nodes.csv: 4 problems, nothing registered");
    assert.match(lines[1]!, /^nodes\.csv:3: Invalid hardware id "zz"/);
    assert.equal(lines[2], "nodes.csv:4: node n1 already listed on line 2");
    assert.match(lines[3]!, /^nodes\.csv:5: Invalid node id: "bad id!"/);
    assert.equal(lines[4], "nodes.csv:6: expected 3 fields, got 2");
    return true;
  });
});

Deno.test("parseImportFile() refuses a header without node_id and hardware_id", () => {
  assert.throws(
    () => parseImportFile("node,mac\nn1,52:54:00:00:00:01\n", "x.csv"),
    /x\.csv:1: header must name node_id and hardware_id.*unknown column node, mac/,
  );
  assert.throws(() => parseImportFile("# only a comment\n", "y.csv"), /y\.csv: no header line/);
});
