import assert from "node:assert/strict";
import type { Principal } from "../../../shared/auth/principal.ts";
import type { ConfigEntry } from "../../../shared/proto/gen/pact/config/config.ts";
import { DiagRequest } from "../../../shared/proto/gen/pact/shell/shell.ts";
import { DiagOps } from "./diag_ops.ts";
import { lastMatching, parseDiagRequest } from "./diag_request.ts";
import type { DiagSources } from "./diag_sources.ts";

const ops = (role: string): Principal => ({
  principal: `${role}@example.org`,
  principalType: "human",
  role,
});

function fakeSources(): DiagSources & { wants: number[] } {
  const wants: number[] = [];
  const numbered = (name: string, count: number) =>
    Array.from({ length: count }, (_, i) => `${name} line ${i + 1}`);
  return {
    wants,
    dmesg: (want) => {
      wants.push(want);
      const lines = [...numbered("kernel", 300), "kernel: Out of memory: Killed process 42"];
      return Promise.resolve({ lines: lines.slice(-want), cut: lines.length > want });
    },
    syslog: () => Promise.resolve(undefined),
    serviceNames: () => Promise.resolve(["db", "web"]),
    serviceLog: (name) => Promise.resolve({ lines: numbered(name, 3), cut: false }),
  };
}

async function collect(
  deps: { sources: DiagSources },
  principal: Principal,
  request: Partial<DiagRequest>,
) {
  const journaled: ConfigEntry[] = [];
  const diag = new DiagOps({
    node: { nodeId: "n1", vcluster: "ml" },
    sources: deps.sources,
    journal: { append: (entry) => Promise.resolve(journaled.push(entry)) },
    log: () => {},
  });
  const chunks = [];
  for await (const chunk of diag.collect(principal, DiagRequest.fromPartial(request))) {
    chunks.push(chunk);
  }
  return { chunks, journaled };
}

Deno.test("parseDiagRequest() applies the defaults and refuses bad limits, patterns, sources and names", () => {
  const query = parseDiagRequest(DiagRequest.fromPartial({}));
  assert.equal(query.sources, "all");
  assert.equal(query.lineLimit, 100);
  assert.equal(query.grep, undefined);
  assert.equal(parseDiagRequest(DiagRequest.fromPartial({ lineLimit: 10_000 })).lineLimit, 10_000);
  const refused = (request: Partial<DiagRequest>, message: RegExp) =>
    assert.throws(() => parseDiagRequest(DiagRequest.fromPartial(request)), (err: Error) => {
      assert.equal((err as { code?: string }).code, "INVALID_ARGUMENT");
      assert.match(err.message, message);
      return true;
    });
  refused({ lineLimit: 10_001 }, /at most 10000/);
  refused({ grepPattern: "([a-z" }, /Invalid grep pattern "\(\[a-z"/);
  refused({ grepPattern: "x".repeat(256) }, /256 characters long: at most 255/);
  refused({ sourceFilter: "dmesg" }, /use system, service or all/);
  refused({ serviceName: "../etc" }, /Invalid service name/);
  refused({ serviceName: "a/b" }, /Invalid service name/);
  refused({ sourceFilter: "system", serviceName: "db" }, /needs source service or all/);
});

Deno.test("lastMatching() keeps the last matching lines and says when more matched", () => {
  const lines = ["a1", "b1", "a2", "b2", "a3"];
  assert.deepEqual(lastMatching(lines, /a/, 2), { lines: ["a2", "a3"], truncated: true });
  assert.deepEqual(lastMatching(lines, /a/, 3), { lines: ["a1", "a2", "a3"], truncated: false });
  assert.deepEqual(lastMatching(lines, undefined, 10), { lines, truncated: false });
  assert.deepEqual(lastMatching(lines, /z/, 10), { lines: [], truncated: false });
  assert.deepEqual(lastMatching(lines, undefined, 10, true), { lines, truncated: true });
});

Deno.test("DiagOps.collect() filters on the agent, limits per source and journals who asked", async () => {
  const sources = fakeSources();
  const { chunks, journaled } = await collect({ sources }, ops("pact-ops-ml"), {
    grepPattern: "Out of memory|line 30\\b",
    lineLimit: 5,
  });
  assert.deepEqual(chunks, [
    {
      source: "dmesg",
      lines: ["kernel line 30", "kernel: Out of memory: Killed process 42"],
      truncated: false,
    },
    { source: "syslog", lines: [], truncated: false },
    { source: "service:db", lines: [], truncated: false },
    { source: "service:web", lines: [], truncated: false },
  ]);
  // With a pattern the source is scanned deeper than the limit.
  assert.equal(sources.wants[0], 100_000);
  assert.equal(journaled.length, 1);
  const entry = journaled[0]!;
  assert.equal(entry.metadata["principal"], "pact-ops-ml@example.org");
  assert.deepEqual(entry.payload, {
    $case: "diag",
    value: { source: "all", grep: "Out of memory|line 30\\b", lines: 5, nodeIds: ["n1"] },
  });
});

Deno.test("DiagOps.collect() returns the last N lines marked truncated, and one service on request", async () => {
  const { chunks } = await collect({ sources: fakeSources() }, ops("pact-platform-admin"), {
    sourceFilter: "system",
    lineLimit: 2,
  });
  assert.deepEqual(chunks[0], {
    source: "dmesg",
    lines: ["kernel line 300", "kernel: Out of memory: Killed process 42"],
    truncated: true,
  });
  const one = await collect({ sources: fakeSources() }, ops("pact-ops-ml"), {
    sourceFilter: "service",
    serviceName: "web",
  });
  assert.deepEqual(one.chunks, [
    { source: "service:web", lines: ["web line 1", "web line 2", "web line 3"], truncated: false },
  ]);
  const missing = await collect({ sources: fakeSources() }, ops("pact-ops-ml"), {
    serviceName: "nope",
    sourceFilter: "service",
  });
  assert.deepEqual(missing.chunks, [
    { source: "service:nope", lines: ["service 'nope' not found in supervisor"], truncated: false },
  ]);
});

Deno.test("DiagOps.collect() refuses viewers and other vClusters' ops before reading anything", async () => {
  for (const role of ["pact-viewer-ml", "pact-ops-storage"]) {
    const sources = fakeSources();
    await assert.rejects(
      collect({ sources }, ops(role), {}),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, "PERMISSION_DENIED");
        assert.match(err.message, /needs pact-platform-admin or pact-ops-ml/);
        return true;
      },
    );
    assert.deepEqual(sources.wants, []);
  }
});
