import assert from "node:assert/strict";
import { isPactError } from "../../shared/errors/mod.ts";
import { agentEndpoint, serviceControl, serviceStatus } from "./service.ts";

Deno.test("agentEndpoint() resolves the node's name on port 9445 by default", () => {
  assert.deepEqual(agentEndpoint("node042", undefined, undefined), {
    endpoint: "http://node042:9445",
    node: "node042",
  });
});

Deno.test("agentEndpoint() prefers --agent over PACT_AGENT_ENDPOINT over the node name", () => {
  assert.equal(agentEndpoint("n1", "10.0.0.5:9445", "http://x:1").endpoint, "http://10.0.0.5:9445");
  assert.equal(agentEndpoint("n1", undefined, "https://x:1").endpoint, "https://x:1");
  assert.equal(agentEndpoint(undefined, "127.0.0.1:7000", undefined).node, "127.0.0.1:7000");
});

Deno.test("agentEndpoint() refuses a missing or odd node name", () => {
  assert.throws(
    () => agentEndpoint(undefined, undefined, undefined),
    (err) => isPactError(err, "INVALID_ARGUMENT") && /--node/.test(err.message),
  );
  assert.throws(() => agentEndpoint("a/b", undefined, undefined), /Invalid node name/);
});

Deno.test("serviceStatus() and serviceControl() turn the agent's answer into views", async () => {
  const info = {
    name: "db",
    state: "running",
    pid: 42,
    uptimeSeconds: 0,
    restartCount: 1,
    lastExitCode: undefined,
    health: "",
  };
  const api = {
    serviceStatus: (name: string) =>
      Promise.resolve({ services: name === "" ? [info] : [], backend: "pact" }),
    serviceControl: () => Promise.resolve({ service: info, journalSequence: 0 }),
    serviceLogs: async function* () {},
  };
  assert.deepEqual(await serviceStatus(api, "n1", undefined), {
    node: "n1",
    backend: "pact",
    services: [{
      name: "db",
      state: "running",
      pid: 42,
      restart_count: 1,
      last_exit_code: null,
      health: null,
    }],
  });
  const control = await serviceControl(api, "n1", "db", "restart");
  assert.equal(control.journal_sequence, null, "0 means not journaled");
  assert.equal(control.action, "restart");
});
