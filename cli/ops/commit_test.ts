import assert from "node:assert/strict";
import { PactError } from "../../shared/errors/mod.ts";
import { agentUnreachable } from "./commit.ts";

Deno.test("agentUnreachable: no connection at all falls back; an answer from the agent does not", () => {
  const unavailable = (message: string) => new PactError("UNAVAILABLE", message);
  assert.ok(
    agentUnreachable(unavailable("Agent unreachable at http://n1:9445: connection refused")),
  );
  assert.ok(agentUnreachable(unavailable("Agent unreachable at http://n1:9445: host not found")));
  assert.ok(
    agentUnreachable(
      unavailable(
        "Agent at http://node001:9445: no connection within 5 s (PACT_AGENT_CONNECT_TIMEOUT)",
      ),
    ),
  );
  // The agent answered: the journal is unreachable from it, nothing may be recorded.
  assert.ok(
    !agentUnreachable(
      unavailable(
        "Agent unreachable at http://n1:9445: Cannot commit: the journal is unreachable from the agent",
      ),
    ),
  );
  assert.ok(
    !agentUnreachable(
      new PactError("PERMISSION_DENIED", "Agent at http://n1:9445: no connection within 5 s"),
    ),
  );
  assert.ok(
    !agentUnreachable(new Error("Agent unreachable at http://n1:9445: connection refused")),
  );
});
