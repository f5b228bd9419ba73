import assert from "node:assert/strict";
import { EnrollmentState } from "../../shared/proto/gen/pact/config/config.ts";
import { NodeEnrollment } from "../../shared/proto/gen/pact/enrollment/enrollment.ts";
import { PactError } from "../../shared/errors/mod.ts";
import {
  agentAddress,
  compressNodeList,
  fanOut,
  fanoutOptionsOf,
  type FanoutTarget,
  fleetExitCode,
  fleetTargets,
  groupByOutput,
  outcomeJson,
  prefixLines,
  problemLines,
  renderGroups,
  summaryLine,
} from "./fanout.ts";

const targets = (count: number): FanoutTarget[] =>
  Array.from({ length: count }, (_, i) => {
    const node = `node${String(i + 1).padStart(3, "0")}`;
    return { node, endpoint: `http://${node}:9445` };
  });

Deno.test("compressNodeList() folds trailing numbers into ranges per prefix and width", () => {
  assert.equal(compressNodeList(["node001", "node002", "node003", "node007"]), "node[001-003,007]");
  assert.equal(compressNodeList(["node007", "node001", "node002", "node002"]), "node[001-002,007]");
  assert.equal(compressNodeList(["node5"]), "node5");
  assert.equal(
    compressNodeList(["login", "gpu01", "gpu02", "node1", "node10"]),
    "login,gpu[01-02],node[1,10]",
  );
  // Zero padding is part of the name: node1 is not node001, node100 joins node001.
  assert.equal(compressNodeList(["node1", "node001", "node002"]), "node1,node[001-002]");
  assert.equal(compressNodeList(["node099", "node100", "node001"]), "node[001,099-100]");
  assert.equal(
    compressNodeList(["rack1-n01", "rack2-n01", "rack1-n02"]),
    "rack1-n[01-02],rack2-n01",
  );
  assert.equal(compressNodeList([]), "");
});

Deno.test("groupByOutput() and renderGroups() print identical outputs once under their node list", () => {
  const groups = groupByOutput([
    { node: "node001", output: "ok\n" },
    { node: "node003", output: "disk full\n" },
    { node: "node002", output: "ok\n" },
  ]);
  assert.deepEqual(groups, [
    { nodes: ["node001", "node002"], output: "ok\n" },
    { nodes: ["node003"], output: "disk full\n" },
  ]);
  assert.equal(
    renderGroups(groups),
    "----------------\nnode[001-002]\n----------------\nok\n" +
      "----------------\nnode003\n----------------\ndisk full\n",
  );
  assert.equal(prefixLines("n1", "a\nb\n"), "[n1] a\n[n1] b\n");
  assert.equal(prefixLines("n1", ""), "");
});

Deno.test("fanOut() never runs more than `concurrency` calls at once and keeps target order", async () => {
  let running = 0;
  let peak = 0;
  const result = await fanOut(targets(20), async (t) => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, 5));
    running--;
    return t.node.toUpperCase();
  }, { concurrency: 4, nodeTimeoutMs: 5_000, maxFailures: undefined });
  assert.equal(peak, 4);
  assert.equal(result.stopped, false);
  assert.deepEqual(
    result.outcomes.map((o) => o.status === "ok" ? o.value : o.status),
    targets(20).map((t) => t.node.toUpperCase()),
  );
  assert.equal(fleetExitCode(result), 0);
});

Deno.test("fanOut() reports a node that does not answer in time as unreachable and aborts its signal", async () => {
  let aborted = false;
  const result = await fanOut(targets(2), (t, signal) => {
    if (t.node === "node001") return Promise.resolve("fine");
    signal.addEventListener("abort", () => aborted = true);
    return new Promise<string>(() => {});
  }, { concurrency: 2, nodeTimeoutMs: 50, maxFailures: undefined });
  const slow = result.outcomes[1]!;
  assert.equal(slow.status, "unreachable");
  assert.ok(slow.status === "unreachable" && /no answer within 50 ms/.test(slow.error));
  assert.ok(aborted);
  assert.equal(fleetExitCode(result), 1);
  assert.deepEqual(problemLines(result, undefined), [
    "[WARN] node002: unreachable (no answer within 50 ms)",
  ]);
});

Deno.test("fanOut() stops starting nodes once more than maxFailures failed", async () => {
  const started: string[] = [];
  const progress: number[] = [];
  const result = await fanOut(targets(10), (t) => {
    started.push(t.node);
    return Promise.reject(new PactError("PERMISSION_DENIED", `refused on ${t.node}`));
  }, {
    concurrency: 1,
    nodeTimeoutMs: 1_000,
    maxFailures: 2,
    onProgress: (p) => progress.push(p.failed),
  });
  assert.deepEqual(started, ["node001", "node002", "node003"]);
  assert.deepEqual(progress, [1, 2, 3]);
  assert.equal(result.stopped, true);
  assert.deepEqual(result.outcomes.map((o) => o.status), [
    "failed",
    "failed",
    "failed",
    ...Array(7).fill("skipped"),
  ]);
  const lines = problemLines(result, 2);
  assert.equal(lines[0], "[ERROR] node001: refused on node001");
  assert.equal(
    lines.at(-1),
    "[WARN] stopped after more than 2 failed node(s) (--max-failures): 7 node(s) not started: node[004-010]",
  );
  assert.equal(summaryLine(result), "10 node(s): 0 ok, 0 unreachable, 3 failed, 7 not started");
  assert.equal(fleetExitCode(result), 1);
});

Deno.test("outcomeJson() gives each started node's elapsed_ms beside its fields or error", async () => {
  const result = await fanOut(targets(4), async (t) => {
    if (t.node === "node002") throw new PactError("PERMISSION_DENIED", "refused");
    if (t.node === "node003") throw new PactError("UNAVAILABLE", "connection refused");
    await new Promise((resolve) => setTimeout(resolve, 30));
    return { out: `hello from ${t.node}` };
  }, { concurrency: 1, nodeTimeoutMs: 5_000, maxFailures: 1 });
  const lines = result.outcomes.map((o) => outcomeJson(o, (v) => ({ node: o.node, ...v })));
  const elapsed = lines[0]!.elapsed_ms as number;
  assert.ok(elapsed >= 25 && elapsed < 5_000, `elapsed_ms ${elapsed}`);
  assert.deepEqual({ ...lines[0], elapsed_ms: 0 }, {
    node: "node001",
    out: "hello from node001",
    elapsed_ms: 0,
  });
  assert.equal(lines[1]!.status, "failed");
  assert.equal(lines[1]!.error, "refused");
  assert.equal(typeof lines[1]!.elapsed_ms, "number");
  assert.equal(lines[2]!.status, "unreachable");
  assert.equal(typeof lines[2]!.elapsed_ms, "number");
  assert.deepEqual(lines[3], { node: "node004", status: "skipped" });
});

Deno.test("fleetExitCode() is 5 when every node was unreachable", async () => {
  const result = await fanOut(
    targets(3),
    () => Promise.reject(new PactError("UNAVAILABLE", "connection refused")),
    { concurrency: 50, nodeTimeoutMs: 1_000, maxFailures: undefined },
  );
  assert.equal(fleetExitCode(result), 5);
});

Deno.test("fleetTargets() uses the reported shell address, else <node>:9445, and refuses an empty vCluster", async () => {
  const node = (nodeId: string, shellAddress: string, state = EnrollmentState.ACTIVE) =>
    NodeEnrollment.fromPartial({ nodeId, shellAddress, state, vclusterId: "ml" });
  const registry = {
    listNodes: (request: { vclusterId: string }) =>
      Promise.resolve({
        nodes: request.vclusterId === "ml"
          ? [node("n1", "127.0.0.1:4000"), node("n2", ""), node("n3", "", EnrollmentState.REVOKED)]
          : [],
      }),
  };
  assert.deepEqual(await fleetTargets(registry, "ml"), [
    { node: "n1", endpoint: "http://127.0.0.1:4000" },
    { node: "n2", endpoint: "http://n2:9445" },
  ]);
  await assert.rejects(fleetTargets(registry, "empty"), /No nodes found in vCluster empty/);
});

Deno.test("fanoutOptionsOf() parses the flags and refuses bad values with the flag's name", () => {
  assert.deepEqual(fanoutOptionsOf({}), {
    concurrency: 50,
    nodeTimeoutMs: 30_000,
    maxFailures: undefined,
  });
  assert.deepEqual(fanoutOptionsOf({ concurrency: "8", nodeTimeout: "5", maxFailures: "0" }), {
    concurrency: 8,
    nodeTimeoutMs: 5_000,
    maxFailures: 0,
  });
  assert.throws(() => fanoutOptionsOf({ concurrency: "0" }), /Invalid --concurrency "0"/);
  assert.throws(() => fanoutOptionsOf({ nodeTimeout: "1.5" }), /Invalid --node-timeout/);
  assert.throws(() => fanoutOptionsOf({ maxFailures: "-1" }), /Invalid --max-failures/);
});

Deno.test("agentAddress() keeps the scheme the agent reported and adds http:// to a bare address", () => {
  assert.equal(agentAddress("n1", "https://127.0.0.1:4000"), "https://127.0.0.1:4000");
  assert.equal(agentAddress("n1", "http://n1:9445"), "http://n1:9445");
  assert.equal(agentAddress("n1", "127.0.0.1:4000"), "http://127.0.0.1:4000");
  assert.equal(agentAddress("n1", ""), "http://n1:9445");
});
