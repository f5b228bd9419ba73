import assert from "node:assert/strict";
import type { Principal } from "../../shared/auth/principal.ts";
import { isPactError } from "../../shared/errors/mod.ts";
import { mayAccess, requireAccess } from "./authorize.ts";

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
