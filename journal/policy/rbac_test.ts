import assert from "node:assert/strict";
import type { Principal, PrincipalType } from "../../shared/auth/principal.ts";
import { RoleBinding } from "../../shared/proto/gen/pact/config/config.ts";
import type { Action } from "./actions.ts";
import { withDefaults } from "./effective_policy.ts";
import { evaluateRbac, type RbacDecision } from "./rbac.ts";

const who = (role: string, principalType: PrincipalType = "human"): Principal => ({
  principal: `${role}@example.org`,
  principalType,
  role,
});

function decide(
  principal: Principal,
  action: Action,
  vcluster: string | undefined,
  policy = withDefaults(vcluster ?? "", undefined),
  opaConfigured = false,
): RbacDecision["kind"] {
  return evaluateRbac({
    principal,
    action,
    target: {
      scope: vcluster === undefined ? { kind: "node", id: "n9" } : { kind: "node", id: "n1" },
      vcluster,
    },
    policy,
    opaConfigured,
  }).kind;
}

const ROLES: [string, Principal][] = [
  ["platform admin", who("pact-platform-admin")],
  ["ops", who("pact-ops-ml")],
  ["viewer", who("pact-viewer-ml")],
  ["regulated", who("pact-regulated-ml")],
  ["agent", who("pact-service-agent", "agent")],
  ["ai", who("pact-service-ai", "service")],
  ["unknown", who("wizard")],
];

// Expected verdict per role for: [own-vCluster action, other-vCluster action].
const MATRIX: Record<string, Partial<Record<Action, [string, string]>>> = {
  "platform admin": {
    status: ["allow", "allow"],
    commit: ["allow", "allow"],
    emergency_start: ["allow", "allow"],
    approve: ["allow", "allow"],
    policy_update: ["allow", "allow"],
    enroll: ["allow", "allow"],
  },
  ops: {
    status: ["allow", "deny"],
    commit: ["allow", "deny"],
    exec: ["allow", "deny"],
    emergency_start: ["allow", "deny"],
    approve: ["allow", "deny"],
    policy_update: ["deny", "deny"],
    enroll: ["deny", "deny"],
  },
  viewer: {
    status: ["allow", "deny"],
    commit: ["deny", "deny"],
    emergency_start: ["deny", "deny"],
    approve: ["deny", "deny"],
  },
  regulated: {
    status: ["allow", "deny"],
    commit: ["allow", "deny"],
    emergency_start: ["deny", "deny"],
    approve: ["allow", "deny"],
    policy_update: ["deny", "deny"],
  },
  agent: {
    status: ["allow", "allow"],
    record: ["allow", "allow"],
    rollback: ["allow", "allow"],
    commit: ["deny", "deny"],
    emergency_start: ["deny", "deny"],
  },
  ai: {
    status: ["allow", "allow"],
    exec: ["deny", "deny"],
    commit: ["deny", "deny"],
    emergency_start: ["deny", "deny"],
    emergency_end: ["deny", "deny"],
    approve: ["deny", "deny"],
  },
  unknown: {
    status: ["deny", "deny"],
    commit: ["deny", "deny"],
  },
};

Deno.test("evaluateRbac() decides every role x action x own/other vCluster as the matrix says", () => {
  for (const [name, principal] of ROLES) {
    for (const [action, [own, other]] of Object.entries(MATRIX[name]!)) {
      assert.equal(decide(principal, action as Action, "ml"), own, `${name} ${action} own`);
      assert.equal(decide(principal, action as Action, "hpc"), other, `${name} ${action} other`);
    }
  }
});

Deno.test("evaluateRbac() lets the AI role exec only where ai_exec_allowed", () => {
  const ai = who("pact-service-ai", "service");
  const policy = { ...withDefaults("ml", undefined), aiExecAllowed: true };
  assert.equal(decide(ai, "exec", "ml", policy), "allow");
  assert.equal(decide(ai, "emergency_start", "ml", policy), "deny");
});

Deno.test("evaluateRbac() refuses emergency to a non-human principal of a scoped role", () => {
  const ops = who("pact-ops-ml", "service");
  assert.equal(decide(ops, "emergency_start", "ml"), "deny");
  assert.equal(decide(ops, "commit", "ml"), "allow");
});

Deno.test("evaluateRbac() grants custom roles through bindings; * never grants emergency", () => {
  const custom = who("site-operator");
  const policy = {
    ...withDefaults("ml", undefined),
    roleBindings: [RoleBinding.fromPartial({ role: "site-operator", allowedActions: ["*"] })],
  };
  assert.equal(decide(custom, "commit", "ml", policy), "allow");
  assert.equal(decide(custom, "emergency_start", "ml", policy), "deny");
  const explicit = {
    ...policy,
    roleBindings: [
      RoleBinding.fromPartial({
        role: "site-operator",
        principals: ["someone-else@example.org"],
        allowedActions: ["emergency_start"],
      }),
    ],
  };
  assert.equal(decide(custom, "emergency_start", "ml", explicit), "deny", "binding names others");
  assert.equal(decide(custom, "commit", "ml", withDefaults("ml", undefined), true), "defer");
});

Deno.test("evaluateRbac() keeps scoped roles off unassigned nodes", () => {
  assert.equal(decide(who("pact-ops-ml"), "commit", undefined), "deny");
  assert.equal(decide(who("pact-platform-admin"), "commit", undefined), "allow");
});
