/** The four entry points in bin/ start with the pinned deno and answer --help and --version. */
import assert from "node:assert/strict";
import { PACT_VERSION } from "../shared/version.ts";
import { BIN } from "./harness/paths.ts";

async function run(bin: string, args: string[]) {
  const output = await new Deno.Command(`${BIN}/${bin}`, { args, stdout: "piped", stderr: "piped" })
    .output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

for (const bin of ["pact", "pact-journal", "pact-agent", "pact-mcp"]) {
  Deno.test(`bin/${bin} answers --version and --help`, async () => {
    const version = await run(bin, ["--version"]);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout, `${PACT_VERSION}\n`);
    const help = await run(bin, ["--help"]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, new RegExp(`^Usage: ${bin} `));
    assert.equal(help.stderr, "");
  });
}

Deno.test("bin/pact-mcp says plainly that it is not built yet", async () => {
  const result = await run("pact-mcp", []);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /not available in this build yet/);
});

Deno.test("bin/pact-agent refuses an unknown argument in one line with exit 2", async () => {
  const result = await run("pact-agent", ["--frobnicate"]);
  assert.equal(result.code, 2);
  assert.equal(
    result.stderr,
    'pact-agent: unknown argument "--frobnicate"\n(see pact-agent --help)\n',
  );
});
