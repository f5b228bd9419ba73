import assert from "node:assert/strict";
import { isPactError } from "../../shared/errors/mod.ts";
import { parseMemoryMax, parseServiceDecl, parseSlice } from "./service_spec.ts";
import { decl } from "./testdata/decl.ts";

Deno.test("parseServiceDecl() fills the reference defaults", () => {
  const spec = parseServiceDecl(decl({ name: "chronyd", binary: "/usr/sbin/chronyd" }));
  assert.equal(spec.restartPolicy, "always");
  assert.equal(spec.restartDelayMs, 1000);
  assert.equal(spec.cpuWeight, 100);
  assert.equal(spec.slice, "pact.slice/infra.slice");
  assert.equal(spec.memoryMaxBytes, undefined);
  assert.equal(spec.healthCheck, undefined);
});

Deno.test("parseServiceDecl() reads limits, policy and health check", () => {
  const spec = parseServiceDecl(decl({
    name: "exporter",
    restartPolicy: "on-failure",
    restartDelaySeconds: 3,
    cgroupMemoryMax: "512M",
    cgroupCpuWeight: 250,
    cgroupSlice: "pact.slice/gpu.slice",
    healthCheck: {
      type: "http",
      url: "http://127.0.0.1:9100/",
      port: 0,
      intervalSeconds: 5,
      timeoutSeconds: 1,
    },
  }));
  assert.equal(spec.restartPolicy, "on_failure");
  assert.equal(spec.restartDelayMs, 3000);
  assert.equal(spec.memoryMaxBytes, 512 * 1024 * 1024);
  assert.equal(spec.cpuWeight, 250);
  assert.equal(spec.slice, "pact.slice/gpu.slice");
  assert.deepEqual(spec.healthCheck, {
    kind: "http",
    url: "http://127.0.0.1:9100/",
    intervalMs: 5000,
    timeoutMs: 1000,
  });
});

Deno.test("parseMemoryMax() uses powers of 1024 and refuses garbage", () => {
  assert.equal(parseMemoryMax("1G"), 1024 ** 3);
  assert.equal(parseMemoryMax("64k"), 64 * 1024);
  assert.equal(parseMemoryMax("4096"), 4096);
  assert.equal(parseMemoryMax("max"), undefined);
  assert.throws(() => parseMemoryMax("12X"), /Cannot parse memory limit: .*"12X"/);
  assert.throws(() => parseMemoryMax("0"), /out of range/);
});

Deno.test("parseSlice() refuses paths that are not name.slice parts", () => {
  assert.equal(parseSlice(""), "pact.slice/infra.slice");
  assert.throws(() => parseSlice("pact.slice/../etc"), /invalid path/);
  assert.throws(() => parseSlice("pact"), /invalid path/);
});

Deno.test("parseServiceDecl() names the service in every one-line error", () => {
  const cases: [Parameters<typeof decl>[0], RegExp][] = [
    [
      { name: "a", restartPolicy: "sometimes" },
      /^Cannot declare service a: unknown restart policy: "sometimes"$/,
    ],
    [{ name: "b", binary: " " }, /^Cannot declare service b: binary is empty$/],
    [
      { name: "c", cgroupCpuWeight: 20000 },
      /^Cannot declare service c: cpu weight must be 1-10000/,
    ],
    [{ name: "d", dependsOn: ["d"] }, /^Cannot declare service d: it depends on itself$/],
    [
      { name: "e", cgroupMemoryMax: "lots" },
      /^Cannot declare service e: cannot parse memory limit/,
    ],
    [
      {
        name: "f",
        healthCheck: { type: "ping", url: "", port: 0, intervalSeconds: 0, timeoutSeconds: 0 },
      },
      /^Cannot declare service f: unknown health check type: "ping"$/,
    ],
    [
      {
        name: "g",
        healthCheck: { type: "tcp", url: "", port: 0, intervalSeconds: 0, timeoutSeconds: 0 },
      },
      /^Cannot declare service g: tcp health check needs a port/,
    ],
    [{ name: "../x" }, /^Cannot declare service: invalid name: \.\.\/x$/],
  ];
  for (const [fields, message] of cases) {
    assert.throws(
      () => parseServiceDecl(decl(fields)),
      (err) => isPactError(err, "INVALID_ARGUMENT") && message.test(err.message),
      fields.name,
    );
  }
});
