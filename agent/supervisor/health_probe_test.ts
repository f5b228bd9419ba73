import assert from "node:assert/strict";
import { probeHealth } from "./health_probe.ts";

const timing = { intervalMs: 1000, timeoutMs: 300 };

Deno.test("probeHealth() http is healthy on 2xx and unhealthy on 5xx", async () => {
  let status = 200;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("x", { status }),
  );
  try {
    const url = `http://127.0.0.1:${server.addr.port}/health`;
    assert.equal((await probeHealth({ kind: "http", url, ...timing }, true)).healthy, true);
    status = 503;
    const result = await probeHealth({ kind: "http", url, ...timing }, true);
    assert.equal(result.healthy, false);
    assert.match(result.detail, /503/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("probeHealth() http gives up after the timeout", async () => {
  // Accepts connections and never answers.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  try {
    const started = performance.now();
    const result = await probeHealth(
      { kind: "http", url: `http://127.0.0.1:${listener.addr.port}/`, ...timing },
      true,
    );
    assert.equal(result.healthy, false);
    assert.match(result.detail, /no answer within 300 ms/);
    assert.ok(performance.now() - started < 5000);
  } finally {
    listener.close();
    for (const conn of held) conn.close();
    await accepting.catch(() => {});
  }
});

Deno.test("probeHealth() tcp connects to an open port and fails on a closed one", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const accepting = (async () => {
    for await (const conn of listener) conn.close();
  })();
  assert.equal((await probeHealth({ kind: "tcp", port, ...timing }, true)).healthy, true);
  listener.close();
  await accepting.catch(() => {});
  const closed = await probeHealth({ kind: "tcp", port, ...timing }, true);
  assert.equal(closed.healthy, false);
  assert.match(closed.detail, new RegExp(`127.0.0.1:${port}`));
});

Deno.test("probeHealth() reports a dead process as unhealthy for every kind", async () => {
  const result = await probeHealth({ kind: "process", ...timing }, false);
  assert.deepEqual(result, { healthy: false, detail: "process is not running" });
  assert.equal((await probeHealth({ kind: "process", ...timing }, true)).healthy, true);
});
