import assert from "node:assert/strict";
import { PactError } from "../../shared/errors/mod.ts";
import type { DiagChunk, DiagRequest } from "../../shared/proto/gen/pact/shell/shell.ts";
import {
  collectDiag,
  type DiagApi,
  diagRequest,
  fleetDiag,
  fleetJson,
  renderDiag,
  renderFleet,
} from "./diag.ts";

function fakeAgent(chunks: DiagChunk[] | PactError): DiagApi & { closed: boolean } {
  return {
    closed: false,
    async *collectDiag(_request: DiagRequest, _signal: AbortSignal) {
      if (chunks instanceof PactError) throw chunks;
      for (const chunk of chunks) yield chunk;
    },
    close() {
      this.closed = true;
    },
  };
}

Deno.test("diagRequest() maps the flags and refuses a bad --lines", () => {
  assert.deepEqual(diagRequest({}), {
    sourceFilter: "all",
    serviceName: "",
    grepPattern: "",
    lineLimit: 0,
  });
  assert.deepEqual(diagRequest({ lines: "50", source: "system", grep: "oom" }), {
    sourceFilter: "system",
    serviceName: "",
    grepPattern: "oom",
    lineLimit: 50,
  });
  for (const lines of ["0", "10001", "1e3", "-5", "ten"]) {
    assert.throws(() => diagRequest({ lines }), /Invalid --lines/);
  }
});

Deno.test("collectDiag() merges a source's chunks and renderDiag() heads each source", async () => {
  const view = await collectDiag(
    fakeAgent([
      { source: "dmesg", lines: ["a", "b"], truncated: true },
      { source: "dmesg", lines: ["c"], truncated: true },
      { source: "syslog", lines: [], truncated: false },
      { source: "service:db", lines: ["ready"], truncated: false },
    ]),
    "n1",
    diagRequest({}),
    new AbortController().signal,
  );
  assert.equal(
    renderDiag(view),
    "==> dmesg (last 3 lines; older lines left out) <==\na\nb\nc\n" +
      "==> syslog (no lines) <==\n==> service:db <==\nready\n",
  );
});

Deno.test("fleetDiag() groups identical outputs, shortens unreachable reasons and closes every client", async () => {
  const same = [{ source: "dmesg", lines: ["ok"], truncated: false }];
  const agents: Record<string, ReturnType<typeof fakeAgent>> = {
    node001: fakeAgent(same),
    node002: fakeAgent(same),
    node003: fakeAgent(
      new PactError("UNAVAILABLE", "Agent unreachable at http://node003:9445: connection refused"),
    ),
    node004: fakeAgent([{ source: "dmesg", lines: ["Xid 79"], truncated: false }]),
  };
  const result = await fleetDiag(
    Object.keys(agents).map((node) => ({ node, endpoint: `http://${node}:9445` })),
    diagRequest({}),
    (target) => Promise.resolve(agents[target.node]!),
    { concurrency: 2, nodeTimeoutMs: 5_000, maxFailures: undefined },
  );
  assert.ok(Object.values(agents).every((a) => a.closed));
  const { out, warnings } = renderFleet(result, { prefix: false, maxFailures: undefined });
  assert.equal(
    out,
    "----------------\nnode[001-002]\n----------------\n==> dmesg <==\nok\n" +
      "----------------\nnode004\n----------------\n==> dmesg <==\nXid 79\n",
  );
  assert.deepEqual(warnings, ["[WARN] node003: unreachable (connection refused)"]);
  const prefixed = renderFleet(result, { prefix: true, maxFailures: undefined }).out;
  assert.match(prefixed, /^\[node001\] ==> dmesg <==\n\[node001\] ok\n\[node002\]/);
  const json = fleetJson(result) as { nodes: { node: string; status: string }[] };
  assert.deepEqual(json.nodes.map((n) => n.status), ["ok", "ok", "unreachable", "ok"]);
});
