import assert from "node:assert/strict";
import type { Principal } from "../../../shared/auth/principal.ts";
import { isPactError } from "../../../shared/errors/mod.ts";
import { effectiveBlacklist } from "../../subscription/journal_updates.ts";
import { requireControl, requireEmergency, requireRead } from "./access.ts";

const node = { nodeId: "n1", vcluster: "ml" };
const who = (role: string, principalType: Principal["principalType"] = "human"): Principal => ({
  principal: `${role}@example.org`,
  principalType,
  role,
});
const refused = (fn: () => void, why: RegExp) =>
  assert.throws(fn, (err) => isPactError(err, "PERMISSION_DENIED") && why.test(err.message));

Deno.test("emergency needs an explicit human ops or platform admin of the node's vCluster", () => {
  requireEmergency(who("pact-platform-admin"), node, "emergency start");
  requireEmergency(who("pact-ops-ml"), node, "emergency start");
  refused(() => requireEmergency(who("pact-ops-other"), node, "x"), /pact-ops-ml/);
  refused(() => requireEmergency(who("pact-service-ai", "service"), node, "x"), /AI service role/);
  refused(() => requireEmergency(who("pact-ops-ml", "agent"), node, "x"), /human principal/);
  refused(() => requireEmergency(who("pact-regulated-ml"), node, "x"), /regulated role/);
  refused(() => requireEmergency(who("site-oncall"), node, "x"), /explicit/);
  refused(() => requireEmergency(who("pact-viewer-ml"), node, "x"), /explicit/);
});

Deno.test("viewers read drift but neither roll back nor extend", () => {
  requireRead(who("pact-viewer-ml"), node, "diff");
  refused(() => requireControl(who("pact-viewer-ml"), node, "rollback"), /pact-ops-ml/);
  requireControl(who("pact-ops-ml"), node, "rollback");
});

Deno.test("journal blacklist changes apply in order over the configured patterns", () => {
  const base = ["/tmp/**", "/var/log/**"];
  assert.deepEqual(
    effectiveBlacklist(base, [
      { add: ["/etc/motd", "/tmp/**"], remove: [] },
      { add: [], remove: ["/var/log/**"] },
      { add: ["/var/log/**"], remove: ["/etc/motd"] },
    ]),
    ["/tmp/**", "/var/log/**"],
  );
  assert.deepEqual(effectiveBlacklist(base, [{ add: ["/srv/*"], remove: [] }]), [
    ...base,
    "/srv/*",
  ]);
});
