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

Deno.test("bin/pact-agent and bin/pact-mcp say plainly that they are not built yet", async () => {
  for (const bin of ["pact-agent", "pact-mcp"]) {
    const result = await run(bin, []);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /not available in this build yet/);
  }
});
