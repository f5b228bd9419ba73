import assert from "node:assert/strict";
import { isPactError } from "../../shared/errors/mod.ts";
import { parseServiceDecl } from "./service_spec.ts";
import { startOrder } from "./start_order.ts";
import { decl } from "./testdata/decl.ts";

const svc = (name: string, order: number, dependsOn: string[] = []) =>
  parseServiceDecl(decl({ name, order, dependsOn }));

Deno.test("startOrder() sorts by order, then name", () => {
  assert.deepEqual(
    startOrder([svc("rasdaemon", 3), svc("chronyd", 1), svc("dbus", 2), svc("auditd", 2)]),
    ["chronyd", "auditd", "dbus", "rasdaemon"],
  );
});

Deno.test("startOrder() starts dependencies first even when their order is higher", () => {
  const order = startOrder([
    svc("lattice-node-agent", 1, ["nvidia-persistenced", "chronyd"]),
    svc("nvidia-persistenced", 5, ["chronyd"]),
    svc("chronyd", 9),
    svc("rasdaemon", 2),
  ]);
  assert.deepEqual(order, ["rasdaemon", "chronyd", "nvidia-persistenced", "lattice-node-agent"]);
});

Deno.test("startOrder() refuses a dependency cycle and names it", () => {
  assert.throws(
    () => startOrder([svc("a", 1, ["c"]), svc("b", 2, ["a"]), svc("c", 3, ["b"]), svc("d", 0)]),
    (err) =>
      isPactError(err, "INVALID_ARGUMENT") &&
      err.message === "Cannot order services: dependency cycle: a -> c -> b -> a",
  );
});

Deno.test("startOrder() refuses unknown dependencies and duplicate names", () => {
  assert.throws(() => startOrder([svc("a", 1, ["ghost"])]), /a depends on unknown service ghost/);
  assert.throws(() => startOrder([svc("a", 1), svc("a", 2)]), /duplicate service a/);
});
