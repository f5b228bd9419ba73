import assert from "node:assert/strict";
import { TomlLocator } from "./toml_locator.ts";

const DOC = `# comment
title = "x" # trailing

[vcluster.ml]
base_image = "img"
"quoted.key" = 1

[vcluster.ml.mounts]
"/scratch" = { type = "nfs", source = """multi
line""" }
list = [
  "a",
  { name = "b" },
]

[[vcluster.ml.services]]
name = "first"

[[vcluster.ml.services]]
name = "second"
[vcluster.ml.services.health_check]
type = "http"
dotted.sub.key = true
`;

Deno.test("TomlLocator.lineOf() finds keys in headers, dotted keys and inline tables", () => {
  const at = TomlLocator.scan(DOC);
  assert.equal(at.lineOf(["title"]), 2);
  assert.equal(at.lineOf(["vcluster", "ml"]), 4);
  assert.equal(at.lineOf(["vcluster", "ml", "base_image"]), 5);
  assert.equal(at.lineOf(["vcluster", "ml", "quoted.key"]), 6);
  assert.equal(at.lineOf(["vcluster", "ml", "mounts", "/scratch", "source"]), 9);
  assert.equal(at.lineOf(["vcluster", "ml", "mounts", "list", 1, "name"]), 13);
});

Deno.test("TomlLocator.lineOf() follows arrays of tables and their sub-tables", () => {
  const at = TomlLocator.scan(DOC);
  assert.equal(at.lineOf(["vcluster", "ml", "services", 0, "name"]), 17);
  assert.equal(at.lineOf(["vcluster", "ml", "services", 1, "name"]), 20);
  assert.equal(at.lineOf(["vcluster", "ml", "services", 1, "health_check", "type"]), 22);
  assert.equal(at.lineOf(["vcluster", "ml", "services", 1, "health_check", "dotted"]), 23);
});

Deno.test("TomlLocator.lineOf() falls back to the nearest located prefix, then line 1", () => {
  const at = TomlLocator.scan(DOC);
  assert.equal(at.lineOf(["vcluster", "ml", "mounts", "/nowhere"]), 8);
  assert.equal(at.lineOf(["missing"]), 1);
});
