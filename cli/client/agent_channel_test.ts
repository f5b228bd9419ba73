import assert from "node:assert/strict";
import { startShellServer } from "../../agent/shell/server.ts";
import { isPactError } from "../../shared/errors/mod.ts";
import { AgentClient } from "./agent_client.ts";
import { agentChannel, certificateNamesNode } from "./agent_channel.ts";

Deno.test("certificateNamesNode() accepts only a DNS name equal to the node", () => {
  assert.equal(certificateNamesNode("n1", "DNS:n1, URI:spiffe://d/pact-agent/n1"), undefined);
  assert.match(
    certificateNamesNode("n1", "DNS:n10, URI:spiffe://d/pact-agent/n10")!.message,
    /certificate is for n10, not node n1/,
  );
  assert.match(certificateNamesNode("n1", undefined)!.message, /for no node, not node n1/);
});

Deno.test("agentChannel() needs a node name to check an https agent at an IP address", () => {
  assert.throws(
    () => agentChannel({ endpoint: "https://127.0.0.1:9445", defaultPort: 9445 }),
    /Cannot check the certificate of the agent at https:\/\/127\.0\.0\.1:9445: name the node/,
  );
  const named = agentChannel({
    endpoint: "https://127.0.0.1:9445",
    defaultPort: 9445,
    nodeId: "n1",
  });
  assert.equal(named.tls, true);
  assert.equal(named.options["grpc.ssl_target_name_override"], "n1");
  assert.equal(agentChannel({ endpoint: "https://n7:9445", defaultPort: 9445 }).nodeId, "n7");
  assert.equal(agentChannel({ endpoint: "http://127.0.0.1:1", defaultPort: 9445 }).tls, false);
});

Deno.test("AgentClient over TLS to a plaintext shell fails at once, saying the agent serves plaintext", async () => {
  const server = await startShellServer({
    listen: { host: "127.0.0.1", port: 0 },
    auth: undefined,
    modules: [],
    log: () => {},
  });
  const client = new AgentClient({
    endpoint: `https://127.0.0.1:${server.address.port}`,
    token: "t",
    timeoutSeconds: 20,
    nodeId: "n1",
  });
  try {
    const started = performance.now();
    const error = await client.listCommands().then(() => undefined, (err) => err);
    assert.ok(isPactError(error), String(error));
    assert.equal(error.code, "UNAVAILABLE");
    assert.match(error.message, /TLS handshake failed: the agent serves plaintext/);
    assert.ok(performance.now() - started < 10_000);
  } finally {
    client.close();
    await server.shutdown(100);
  }
});

Deno.test("AgentClient fails a call whose connection is not up within the connect timeout", async () => {
  // Accepts TCP connections but never answers the TLS handshake.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) held.push(conn);
    } catch { /* closed */ }
  })();
  const client = new AgentClient({
    endpoint: `https://127.0.0.1:${listener.addr.port}`,
    token: "t",
    timeoutSeconds: 30,
    nodeId: "n1",
    connectTimeoutMs: 500,
  });
  try {
    const started = performance.now();
    const error = await client.listCommands().then(() => undefined, (err) => err);
    const elapsedMs = performance.now() - started;
    assert.ok(isPactError(error), String(error));
    assert.equal(error.code, "UNAVAILABLE");
    assert.match(error.message, /no connection within 0\.5 s/);
    assert.ok(elapsedMs >= 400 && elapsedMs < 15_000, `took ${elapsedMs} ms`);
  } finally {
    client.close();
    listener.close();
    for (const conn of held) conn.close();
    await accepting;
  }
});
