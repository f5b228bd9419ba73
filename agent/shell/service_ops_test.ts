import assert from "node:assert/strict";
import type { Principal } from "../../shared/auth/principal.ts";
import { isPactError } from "../../shared/errors/mod.ts";
import { type ConfigEntry, EntryType } from "../../shared/proto/gen/pact/config/config.ts";
import { DenoSpawner } from "../supervisor/process.ts";
import { PactSupervisor } from "../supervisor/supervisor.ts";
import { shService } from "../supervisor/testdata/decl.ts";
import { realTimers } from "../supervisor/timers.ts";
import type { EmergencySession, EvaluatorState, WindowState } from "../drift/evaluator_types.ts";
import { ServiceOps } from "./service_ops.ts";

const admin: Principal = { principal: "a@x", principalType: "human", role: "pact-platform-admin" };
const viewer: Principal = { principal: "v@x", principalType: "human", role: "pact-viewer-ml" };

/** A real supervisor running one `echo; sleep` service in a temp directory. */
async function withOps(
  body: (ops: ServiceOps, journaled: ConfigEntry[], supervisor: PactSupervisor) => Promise<void>,
  logs = true,
  drift?: () => Pick<EvaluatorState, "window" | "emergency">,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pact-shell-ops-" });
  const supervisor = new PactSupervisor(
    [shService("db", 'echo "db up $$"; exec sleep 60')],
    {
      spawner: new DenoSpawner(),
      timers: realTimers,
      logDirectory: dir,
      onEvent: () => {},
      stopGraceMs: 2_000,
    },
  );
  const journaled: ConfigEntry[] = [];
  const ops = new ServiceOps({
    node: { nodeId: "n1", vcluster: "ml" },
    services: supervisor,
    logsOf: logs ? (name) => supervisor.logs(name) : undefined,
    journal: { append: (entry) => Promise.resolve(journaled.push(entry) + 100) },
    drift,
    log: () => {},
  });
  try {
    await supervisor.startAll();
    await body(ops, journaled, supervisor);
  } finally {
    await supervisor.stopAll();
    await Deno.remove(dir, { recursive: true });
  }
}

async function collect(lines: AsyncIterable<string[]>): Promise<string[]> {
  const all: string[] = [];
  for await (const chunk of lines) all.push(...chunk);
  return all;
}

Deno.test("ServiceOps.control() stops a service and journals a SERVICE_LIFECYCLE entry", async () => {
  await withOps(async (ops, journaled) => {
    const response = await ops.control(admin, "db", "stop");
    assert.equal(response.service?.state, "stopped");
    assert.equal(response.journalSequence, 101);
    const entry = journaled[0]!;
    assert.equal(entry.entryType, EntryType.SERVICE_LIFECYCLE);
    assert.deepEqual(entry.scope?.kind, { $case: "nodeId", value: "n1" });
    assert.equal(entry.metadata.principal, "a@x");
    assert.equal(entry.payload?.$case, "service");
  });
});

Deno.test("ServiceOps refuses bad actions, unknown services and viewers' control", async () => {
  await withOps(async (ops, journaled) => {
    await assert.rejects(
      ops.control(admin, "db", "kill"),
      (e) => isPactError(e, "INVALID_ARGUMENT"),
    );
    await assert.rejects(ops.control(admin, "nope", "stop"), (e) => isPactError(e, "NOT_FOUND"));
    await assert.rejects(ops.status(admin, "../db"), (e) => isPactError(e, "INVALID_ARGUMENT"));
    await assert.rejects(
      ops.control(viewer, "db", "stop"),
      (e) => isPactError(e, "PERMISSION_DENIED"),
    );
    assert.equal((await ops.status(viewer, "")).services[0]?.state, "running");
    assert.equal(journaled.length, 0, "nothing refused is journaled");
  });
});

Deno.test("ServiceOps.logs() tails the service's captured output and caps the line count", async () => {
  await withOps(async (ops, _journaled, supervisor) => {
    const pid = (await supervisor.status())[0]!.pid;
    let lines: string[] = [];
    for (let i = 0; i < 50 && lines.length === 0; i++) {
      lines = await collect(
        ops.logs(viewer, { name: "db", lines: 0, follow: false }, new AbortController().signal),
      );
      if (lines.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(lines, [`db up ${pid}`]);
    await assert.rejects(
      collect(
        ops.logs(admin, { name: "db", lines: 10_001, follow: false }, new AbortController().signal),
      ),
      (e) => isPactError(e, "INVALID_ARGUMENT"),
    );
  });
});

Deno.test("ServiceOps.logs() says where the logs are when the backend keeps none", async () => {
  await withOps(async (ops) => {
    await assert.rejects(
      collect(
        ops.logs(admin, { name: "db", lines: 5, follow: false }, new AbortController().signal),
      ),
      (e) => isPactError(e, "VALIDATION") && /journalctl -u pact-db/.test(e.message),
    );
  }, false);
});

Deno.test("ServiceOps refuses service actions while an expired window's drift is unresolved, unless in emergency", async () => {
  let window: WindowState = { kind: "idle" };
  let emergency: EmergencySession | undefined;
  await withOps(
    async (ops, journaled) => {
      await ops.control(admin, "db", "restart");
      window = { kind: "expired", openedAtMs: 0, expiredAtMs: 1_000, blockedBy: ["pid 42 (cat)"] };
      await assert.rejects(ops.control(admin, "db", "restart"), (e) => {
        assert.ok(isPactError(e, "VALIDATION"));
        assert.match(
          e.message,
          /commit window expired .* blocked by pid 42 \(cat\)\): run pact extend or pact commit first/,
        );
        return true;
      });
      assert.equal(
        (await ops.status(viewer, "")).services[0]?.state,
        "running",
        "reads still work",
      );
      emergency = { startedAtMs: 0, expiresAtMs: 9e12, reason: "r", admin: "a@x", stale: false };
      await ops.control(admin, "db", "restart");
      emergency = undefined;
      window = { kind: "open", openedAtMs: 0, deadlineMs: 9e12, extendedMs: 0 };
      await ops.control(admin, "db", "restart");
      assert.equal(journaled.length, 3, "the refused restart is not journaled");
    },
    true,
    () => ({ window, emergency }),
  );
});
