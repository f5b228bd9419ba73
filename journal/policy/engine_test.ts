import assert from "node:assert/strict";
import type { Principal } from "../../shared/auth/principal.ts";
import { ManualClock } from "../../shared/clock/clock.ts";
import { EnrollmentRecord, EntryType } from "../../shared/proto/gen/pact/config/config.ts";
import { entry, policyUpdate } from "../../shared/testing/entries.ts";
import { applyEntry } from "../state/reduce.ts";
import { emptyState, type JournalState } from "../state/state.ts";
import { OpaServer } from "../../tests/harness/opa_server.ts";
import type { Action } from "./actions.ts";
import { type PolicyDecision, PolicyEngine } from "./engine.ts";
import { OpaClient } from "./opa_client.ts";

const OPS: Principal = {
  principal: "ops@example.org",
  principalType: "human",
  role: "pact-ops-ml",
};
const SITE: Principal = { principal: "s@example.org", principalType: "human", role: "site-ml" };
const ADMIN: Principal = {
  principal: "admin@example.org",
  principalType: "human",
  role: "pact-platform-admin",
};

/** A state with node n1 in ml, node r1 in the two-person vCluster sc. */
function state(): JournalState {
  let s = emptyState();
  const entries = [
    assign("n1", "ml"),
    assign("r1", "sc"),
    policyUpdate("sc", { twoPersonApproval: true, approvalTimeoutSeconds: 600 }),
    policyUpdate("ml", { emergencyAllowed: false }),
  ];
  for (const [i, e] of entries.entries()) {
    s = applyEntry(s, { ...e, sequence: i, timestamp: new Date(1_000 + i) });
  }
  return s;
}

function assign(node: string, vcluster: string) {
  return entry(EntryType.NODE_ASSIGNED, { kind: "node", id: node }, {
    payload: { $case: "enrollment", value: EnrollmentRecord.fromPartial({ vclusterId: vcluster }) },
  });
}

function ask(
  engine: PolicyEngine,
  principal: Principal,
  action: Action,
  node: string,
): Promise<PolicyDecision> {
  return engine.authorize(state(), { principal, action, scope: { kind: "node", id: node } });
}

async function withOpa(body: (opa: OpaServer, engine: PolicyEngine) => Promise<void>) {
  const opa = OpaServer.start();
  const engine = new PolicyEngine({
    opa: new OpaClient({ endpoint: opa.endpoint, timeoutMs: 1000 }),
    clock: new ManualClock(),
  });
  try {
    await body(opa, engine);
  } finally {
    await opa.stop();
  }
}

Deno.test("PolicyEngine without OPA: RBAC, policy rules and two-person approval", async () => {
  const engine = new PolicyEngine({ clock: new ManualClock() });
  assert.deepEqual(await ask(engine, OPS, "commit", "n1"), {
    kind: "allow",
    policyRef: "rbac:seq-3:commit",
    degraded: false,
  });
  const other = await ask(engine, OPS, "commit", "r1");
  assert.equal(other.kind === "deny" && other.code, "PERMISSION_DENIED");
  const emergency = await ask(engine, OPS, "emergency_start", "n1");
  assert.equal(emergency.kind === "deny" && emergency.code, "POLICY_DENIED");
  const regulated = await ask(engine, ADMIN, "commit", "r1");
  assert.equal(regulated.kind, "approval");
  assert.equal(regulated.kind === "approval" && regulated.timeoutSeconds, 600);
  const site = await ask(engine, SITE, "commit", "n1");
  assert.equal(site.kind === "deny" && site.code, "PERMISSION_DENIED", "no OPA: unknown role");
  assert.equal(engine.status().engine, "rbac");
});

Deno.test("PolicyEngine lets an agent roll its node back without waiting for a second person", async () => {
  const engine = new PolicyEngine({ clock: new ManualClock() });
  const agent: Principal = {
    principal: "agent-r1",
    principalType: "agent",
    role: "pact-service-agent",
  };
  const rollback = await ask(engine, agent, "rollback", "r1");
  assert.equal(
    rollback.kind,
    "allow",
    "auto-rollback on the two-person vCluster sc is not deferred",
  );
  const byAdmin = await ask(engine, ADMIN, "rollback", "r1");
  assert.equal(byAdmin.kind, "approval", "a person's rollback there still needs approval");
  const commit = await ask(engine, agent, "commit", "r1");
  assert.equal(commit.kind === "deny" && commit.code, "PERMISSION_DENIED");
});

Deno.test("PolicyEngine asks OPA with the input contract and honours its deny", async () => {
  await withOpa(async (opa, engine) => {
    assert.equal((await ask(engine, OPS, "commit", "n1")).kind, "allow");
    const input = opa.inputs.at(-1)!;
    assert.deepEqual(input.identity, {
      principal: "ops@example.org",
      role: "pact-ops-ml",
      principal_type: "human",
    });
    assert.equal(input.action, "commit");
    assert.deepEqual(input.scope, { kind: "node", id: "n1", vcluster: "ml" });
    opa.data.freeze = { ml: "quarterly audit" };
    const frozen = await ask(engine, OPS, "commit", "n1");
    assert.equal(frozen.kind, "deny");
    assert.equal(frozen.kind === "deny" && frozen.code, "POLICY_DENIED");
    assert.match(frozen.kind === "deny" ? frozen.reason : "", /change freeze: quarterly audit/);
    const asked = opa.inputs.length;
    assert.equal((await ask(engine, OPS, "status", "n1")).kind, "allow");
    assert.equal(opa.inputs.length, asked, "reads are not sent to OPA");
    opa.data.roles = { "site-ml": [{ vcluster: "ml", actions: ["commit"] }] };
    opa.data.freeze = {};
    const site = await ask(engine, SITE, "commit", "n1");
    assert.equal(site.kind, "allow", "a site role only OPA knows");
    assert.equal(site.policyRef, "opa:seq-3:commit");
  });
});

Deno.test("PolicyEngine in degraded mode keeps RBAC, denies OPA-only and approval decisions", async () => {
  await withOpa(async (opa, engine) => {
    opa.data.roles = { "site-ml": [{ vcluster: "ml", actions: ["commit"] }] };
    await opa.stop();
    const ops = await ask(engine, OPS, "commit", "n1");
    assert.deepEqual(ops, {
      kind: "allow",
      policyRef: "degraded:rbac:seq-3:commit",
      degraded: true,
    });
    assert.equal(engine.status().degraded, true);
    assert.match(engine.status().reason, /OPA unreachable/);
    const site = await ask(engine, SITE, "commit", "n1");
    assert.equal(site.kind === "deny" && site.code, "POLICY_DENIED");
    assert.match(site.kind === "deny" ? site.reason : "", /only be authorized by OPA/);
    const twoPerson = await ask(engine, ADMIN, "commit", "r1");
    assert.equal(twoPerson.kind, "deny", "approvals are denied, not deferred");
    const approve = await ask(engine, ADMIN, "approve", "r1");
    assert.equal(approve.kind, "deny");
    const viewer = await ask(engine, { ...OPS, role: "pact-viewer-ml" }, "commit", "n1");
    assert.equal(viewer.kind === "deny" && viewer.code, "PERMISSION_DENIED", "never allow all");

    opa.restart();
    await engine.probe();
    assert.equal(engine.status().degraded, false);
    assert.equal((await ask(engine, SITE, "commit", "n1")).kind, "allow");
  });
});

Deno.test("PolicyEngine gives up on a slow OPA after its 1 s timeout", async () => {
  await withOpa(async (opa, engine) => {
    opa.delayMs = 1_500;
    const started = performance.now();
    const decision = await ask(engine, OPS, "commit", "n1");
    const tookMs = performance.now() - started;
    assert.equal(decision.degraded, true);
    assert.ok(tookMs >= 950 && tookMs < 1_450, `took ${tookMs} ms`);
    assert.match(engine.status().reason, /did not answer within 1000 ms/);
    // Let the slow handler finish before the server stops.
    await new Promise((r) => setTimeout(r, 600));
  });
});
