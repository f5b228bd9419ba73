import assert from "node:assert/strict";
import type { Principal } from "../../shared/auth/principal.ts";
import { isPactError } from "../../shared/errors/mod.ts";
import { VClusterPolicy } from "../../shared/proto/gen/pact/config/config.ts";
import { decideAccess, mayAccess, requireAccess } from "./authorize.ts";

const who = (role: string, roles?: string[]): Principal => ({
  principal: "someone@example.org",
  principalType: "human",
  role,
  ...(roles ? { roles } : {}),
});

Deno.test("mayAccess() lets the platform admin read and control any node", () => {
  assert.equal(mayAccess(who("pact-platform-admin"), "ml", "control"), true);
  assert.equal(mayAccess(who("pact-platform-admin"), undefined, "control"), true);
});

Deno.test("mayAccess() lets ops of the node's vCluster control, not ops of another", () => {
  assert.equal(mayAccess(who("pact-ops-ml"), "ml", "control"), true);
  assert.equal(mayAccess(who("pact-ops-ml"), "ml", "read"), true);
  assert.equal(mayAccess(who("pact-ops-storage"), "ml", "read"), false);
  assert.equal(mayAccess(who("pact-ops-ml"), undefined, "read"), false);
});

Deno.test("mayAccess() lets viewers of the vCluster read only", () => {
  assert.equal(mayAccess(who("pact-viewer-ml"), "ml", "read"), true);
  assert.equal(mayAccess(who("pact-viewer-ml"), "ml", "control"), false);
  assert.equal(mayAccess(who("pact-viewer-x"), "ml", "read"), false);
});

Deno.test("mayAccess() checks every role a token carries and refuses other roles", () => {
  assert.equal(
    mayAccess(who("pact-viewer-ml", ["pact-viewer-ml", "pact-ops-ml"]), "ml", "control"),
    true,
  );
  assert.equal(mayAccess(who("pact-service-agent"), "ml", "read"), false);
  assert.equal(mayAccess(who("custom-role"), "ml", "read"), false);
});

Deno.test("requireAccess() throws PERMISSION_DENIED naming the roles that would do", () => {
  assert.throws(
    () =>
      requireAccess(
        who("pact-viewer-ml"),
        { nodeId: "n1", vcluster: "ml" },
        "control",
        "restart db",
      ),
    (err) =>
      isPactError(err, "PERMISSION_DENIED") &&
      /restart db on node n1 refused .*pact-ops-ml/.test(err.message),
  );
  requireAccess(who("pact-viewer-ml"), { nodeId: "n1", vcluster: "ml" }, "read", "status");
});

const policyWith = (fields: Partial<VClusterPolicy>): VClusterPolicy =>
  VClusterPolicy.fromPartial({ vclusterId: "ml", ...fields });

Deno.test("decideAccess() lets a custom role do what the policy's role bindings grant", () => {
  const policy = policyWith({
    roleBindings: [
      {
        role: "gpu-oncall",
        principals: ["someone@example.org"],
        allowedActions: ["service_restart"],
      },
      { role: "auditor", principals: [], allowedActions: ["status", "log"] },
    ],
  });
  const restart = { policy, action: "service_restart" };
  assert.equal(mayAccess(who("gpu-oncall"), "ml", "control", restart), true);
  assert.equal(
    mayAccess(who("gpu-oncall"), "ml", "control", { policy, action: "service_stop" }),
    false,
  );
  assert.equal(mayAccess(who("gpu-oncall"), "ml", "control", { action: "service_restart" }), false);
  assert.equal(mayAccess(who("auditor"), "ml", "read", { policy, action: "log" }), true);
  assert.equal(mayAccess(who("auditor"), "ml", "control", restart), false);
  const elsewhere = { ...who("gpu-oncall"), principal: "other@example.org" };
  assert.equal(mayAccess(elsewhere, "ml", "control", restart), false);
});

Deno.test("decideAccess() refuses a regulated role's control action under two-person approval with POLICY_DENIED", () => {
  const regulated = who("pact-regulated-ml");
  assert.equal(mayAccess(regulated, "ml", "control", { policy: policyWith({}) }), true);
  const verdict = decideAccess(regulated, "ml", "control", {
    policy: policyWith({ twoPersonApproval: true }),
  });
  assert.equal(verdict.allowed, false);
  assert.equal(!verdict.allowed && verdict.code, "POLICY_DENIED");
  assert.equal(
    mayAccess(regulated, "ml", "read", { policy: policyWith({ twoPersonApproval: true }) }),
    true,
  );
  assert.equal(mayAccess(who("pact-regulated-x"), "ml", "read"), false);
  assert.equal(mayAccess(regulated, "ml", "control"), false, "no policy consulted: refused");
});

Deno.test("decideAccess() lets the AI service read, exec only with ai_exec_allowed, never control", () => {
  const ai = who("pact-service-ai");
  assert.equal(mayAccess(ai, "ml", "read", { action: "status" }), true);
  assert.equal(mayAccess(ai, "ml", "read", { policy: policyWith({}) }), false);
  assert.equal(mayAccess(ai, "ml", "read", { policy: policyWith({ aiExecAllowed: true }) }), true);
  assert.equal(
    mayAccess(ai, "ml", "control", { policy: policyWith({ aiExecAllowed: true }) }),
    false,
  );
});

Deno.test("requireAccess() reads the node's policy on every call", () => {
  const current: { policy?: VClusterPolicy } = {};
  const node = { nodeId: "n1", vcluster: "ml", policy: () => current.policy };
  const restart = () =>
    requireAccess(who("gpu-oncall"), node, "control", "restart db", "service_restart");
  assert.throws(
    restart,
    (err) =>
      isPactError(err, "PERMISSION_DENIED") &&
      /needs pact-platform-admin or pact-ops-ml \(or a role the vCluster policy binds to service_restart\)$/
        .test(err.message),
  );
  current.policy = policyWith({
    roleBindings: [{ role: "gpu-oncall", principals: ["*"], allowedActions: ["*"] }],
  });
  restart();
});
