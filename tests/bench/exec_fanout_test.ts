/**
 * The exec fan-out benchmark's machinery on a tiny fleet: a real journal,
 * two host processes serving production shell servers with the exec
 * module, and the real CLI's `pact exec --vcluster` (text and --json)
 * checked node by node; the hosts' exec count must match the CLI's.
 */
import assert from "node:assert/strict";
import { execFanoutBench, localFloor, renderExecFanout } from "./exec_fanout.ts";

Deno.test("exec-fanout: pact exec --vcluster reaches every simulated node and every exec is counted", async () => {
  const lines: string[] = [];
  const results = await execFanoutBench(
    { sizes: [1, 6], concurrencies: [4], runs: 1, hosts: 2 },
    (line) => lines.push(line),
  );
  assert.equal(results.nodesHosted, 7);
  // Per size: an untimed JSON run, a text run and one timed run.
  assert.equal(results.execsServed, 3 * 7);
  assert.equal(results.execsExpected, results.execsServed);
  assert.deepEqual(results.cases.map((c) => [c.nodes, c.concurrency, c.runs]), [[1, 4, 1], [
    6,
    4,
    1,
  ]]);
  for (const c of results.cases) {
    assert.ok(c.wallMedianMs > 0 && c.wallMedianMs < 60_000, `wall ${c.wallMedianMs}`);
    assert.ok(c.perNodeMs.p99 <= c.wallMedianMs, `node p99 ${c.perNodeMs.p99} > wall`);
    assert.ok(c.cpuMs.cli > 0, "the CLI used some CPU");
  }
  assert.deepEqual(results.floors.map((f) => f.commands), [1, 6]);
  assert.match(renderExecFanout(results), /^ {2}6 {2}4 {2}1 /m);
  assert.ok(lines.some((l) => l.includes("7 nodes up")), lines.join("\n"));
});

Deno.test("exec-fanout: the local floor refuses a hostname that prints something else", async () => {
  await assert.rejects(localFloor(2, 2, "not-this-host\n"), /local hostname failed/);
});
