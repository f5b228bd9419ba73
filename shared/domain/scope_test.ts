import assert from "node:assert/strict";
import { isPactError } from "../errors/mod.ts";
import { formatScope, fromProtoScope, parseScope, toProtoScope } from "./scope.ts";

Deno.test("parseScope() reads global, node:<id>, vc:<id> and vcluster:<id>", () => {
  assert.deepEqual(parseScope("global"), { kind: "global" });
  assert.deepEqual(parseScope("node:node042"), { kind: "node", id: "node042" });
  assert.deepEqual(parseScope("vc:ml-training"), { kind: "vcluster", id: "ml-training" });
  assert.deepEqual(parseScope("vcluster:ml.a_b"), { kind: "vcluster", id: "ml.a_b" });
});

Deno.test("parseScope() refuses unknown kinds and invalid ids with INVALID_ARGUMENT", () => {
  for (
    const text of [
      "",
      "node",
      "node:",
      "rack:r1",
      "node:-x",
      "node:a b",
      "vc:../x",
      `node:${"a".repeat(129)}`,
    ]
  ) {
    assert.throws(
      () => parseScope(text),
      (err: unknown) => isPactError(err, "INVALID_ARGUMENT"),
      text,
    );
  }
});

Deno.test("formatScope() and the wire conversions round-trip", () => {
  for (const text of ["global", "node:n1", "vc:ml"]) {
    const scope = parseScope(text);
    assert.equal(formatScope(scope), text);
    assert.deepEqual(fromProtoScope(toProtoScope(scope)), scope);
  }
  assert.equal(fromProtoScope(undefined), undefined);
  assert.equal(fromProtoScope({ kind: { $case: "nodeId", value: "" } }), undefined);
  assert.equal(fromProtoScope({ kind: { $case: "global", value: false } }), undefined);
});
