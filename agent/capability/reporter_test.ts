import assert from "node:assert/strict";
import { GpuHealth } from "../../shared/proto/gen/pact/capability/capability.ts";
import { type ConfigEntry, EntryType } from "../../shared/proto/gen/pact/config/config.ts";
import { DEFAULT_WEIGHTS, ZERO_VECTOR } from "../drift/drift_vector.ts";
import type { EvaluatorState } from "../drift/evaluator_types.ts";
import { sandboxHost } from "../host/sandbox_host.ts";
import type { ServiceStatus } from "../supervisor/service_manager.ts";
import { fakeTool, FOUR_A100, x86Tree } from "./_fixtures.ts";
import type { CapabilityReport } from "./report_types.ts";
import { CapabilityReporter } from "./reporter.ts";
import { rootedSources } from "./sources.ts";

const HEALTHY = FOUR_A100.replace(", 12, Not Active", ", 0, Not Active");
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const SERVICES: ServiceStatus[] = [
  {
    name: "chronyd",
    state: "running",
    pid: 41,
    restartCount: 0,
    lastExitCode: undefined,
    healthy: undefined,
    crashLoop: false,
  },
  {
    name: "lattice-node-agent",
    state: "failed",
    pid: undefined,
    restartCount: 3,
    lastExitCode: 1,
    healthy: undefined,
    crashLoop: true,
  },
];

async function setUp(pollIntervalMs: number) {
  const root = await Deno.makeTempDir({ prefix: "pact-cap-rep-" });
  await x86Tree(root);
  await fakeTool(root, "nvidia-smi", HEALTHY);
  const logs: string[] = [];
  const reporter = new CapabilityReporter({
    node: { nodeId: "node042", vcluster: "ml", configVersion: 7 },
    sources: rootedSources({ root, tools: { "nvidia-smi": `${root}/usr/bin/nvidia-smi` } }),
    files: sandboxHost(root).files,
    manifestPath: "/run/pact/capability.json",
    socketPath: `${root}/run/pact/capability.sock`,
    pollIntervalMs,
    services: () => Promise.resolve({ backend: "pact", statuses: SERVICES }),
    now: () => Date.parse("2026-11-23T10:00:00Z"),
    limits: { statvfsTimeoutMs: 500 },
    log: (line) => logs.push(line),
  });
  const manifest = async () =>
    JSON.parse(await Deno.readTextFile(`${root}/run/pact/capability.json`)) as CapabilityReport;
  return {
    root,
    reporter,
    logs,
    manifest,
    async dispose() {
      await reporter.stop();
      await Deno.remove(root, { recursive: true });
    },
  };
}

async function askSocket(path: string): Promise<CapabilityReport> {
  const conn = await Deno.connect({ transport: "unix", path });
  // The request is empty: close our side and read the answer to the end.
  await conn.closeWrite();
  const text = await new Response(conn.readable).text();
  return JSON.parse(text) as CapabilityReport;
}

Deno.test("CapabilityReporter.start() writes the manifest and answers the socket with the same report", async () => {
  const t = await setUp(0);
  try {
    const first = await t.reporter.start();
    const manifest = await t.manifest();
    assert.deepEqual(manifest, first);
    assert.match(first.report_id, UUID);
    assert.equal(first.schema_version, 1);
    assert.equal(first.node_id, "node042");
    assert.equal(first.vcluster, "ml");
    assert.equal(first.timestamp, "2026-11-23T10:00:00.000Z");
    assert.equal(first.cpu.architecture, "x86_64");
    assert.equal(first.gpus.length, 4);
    assert.ok(first.gpus.every((g) => g.health === "healthy"));
    assert.deepEqual(first.software.loaded_modules, ["nvidia", "cxi_ss1"]);
    assert.deepEqual(first.supervisor_status, {
      backend: "pact",
      declared: 2,
      running: 1,
      failed: 1,
    });
    assert.equal(first.config_state, "committed");
    assert.equal(first.config_version, 7);
    assert.equal(first.emergency, null);
    const answer = await askSocket(`${t.root}/run/pact/capability.sock`);
    assert.deepEqual(answer, first);
  } finally {
    await t.dispose();
  }
});

Deno.test("CapabilityReporter journals a degraded GPU as CAPABILITY_CHANGE gpu.3.health once a journal is attached", async () => {
  const t = await setUp(0);
  try {
    await t.reporter.start();
    await fakeTool(t.root, "nvidia-smi", FOUR_A100);
    const changes = await t.reporter.poll();
    assert.deepEqual(changes, [{
      key: "gpu.3.health",
      previous: "healthy",
      current: "degraded (ECC uncorrectable: 12)",
    }]);
    // The report is updated at once, before any journal is attached.
    const manifest = await t.manifest();
    assert.equal(manifest.gpus[3]!.health, "degraded");
    assert.equal(manifest.gpus[3]!.health_detail, "ECC uncorrectable: 12");

    const entries: ConfigEntry[] = [];
    t.reporter.attach({
      journal: { append: (entry) => Promise.resolve(entries.push(entry)) },
      drift: undefined,
    });
    assert.equal(entries.length, 1, "the change held while no journal was attached");
    const [entry] = entries;
    assert.equal(entry!.entryType, EntryType.CAPABILITY_CHANGE);
    assert.equal(entry!.metadata["keys"], "gpu.3.health");
    assert.equal(entry!.metadata["gpu.3.health"], "healthy -> degraded (ECC uncorrectable: 12)");
    assert.equal(entry!.metadata["report_id"], manifest.report_id);
    assert.match(entry!.message, /gpu\.3\.health healthy -> degraded/);
    assert.equal(entry!.payload?.$case, "capability");
    if (entry!.payload?.$case === "capability") {
      assert.equal(entry!.payload.value.gpus[3]!.health, GpuHealth.DEGRADED);
      assert.equal(entry!.payload.value.nodeId, "node042");
    }

    // The same hardware again: a new report for confirmation, no entry.
    const again = await t.reporter.poll();
    assert.deepEqual(again, []);
    assert.equal(entries.length, 1);
    assert.notEqual((await t.manifest()).report_id, manifest.report_id);
  } finally {
    await t.dispose();
  }
});

Deno.test("CapabilityReporter.current() reflects an emergency that started after the last detection", async () => {
  const t = await setUp(0);
  try {
    const first = await t.reporter.start();
    let emergency: EvaluatorState["emergency"] = undefined;
    const state = () =>
      ({
        settings: { weights: DEFAULT_WEIGHTS },
        drift: new Map(),
        vector: { ...ZERO_VECTOR, kernel: 1 },
        window: { kind: "idle" },
        emergency,
        rollbackInFlight: false,
      }) as unknown as EvaluatorState;
    t.reporter.attach({ journal: undefined, drift: state });
    const drifted = await t.reporter.current();
    assert.notEqual(drifted.report_id, first.report_id, "drift summary is new state");
    assert.equal(drifted.drift_summary?.magnitude, 2);
    emergency = {
      startedAtMs: Date.parse("2026-11-23T10:00:00Z"),
      expiresAtMs: Date.parse("2026-11-23T14:00:00Z"),
      reason: "GPU swap",
      admin: "alice",
      stale: false,
    };
    const answer = await askSocket(`${t.root}/run/pact/capability.sock`);
    assert.equal(answer.config_state, "emergency");
    assert.equal(answer.emergency?.reason, "GPU swap");
    assert.equal((await t.manifest()).config_state, "emergency", "the manifest too");
    // Unchanged state: the same report.
    assert.equal((await t.reporter.current()).report_id, answer.report_id);
  } finally {
    await t.dispose();
  }
});

Deno.test("CapabilityReporter detects again every poll interval (periodic confirmation)", async () => {
  const t = await setUp(200);
  try {
    const first = await t.reporter.start();
    const deadline = Date.now() + 20_000;
    let latest = first;
    while (latest.report_id === first.report_id && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      latest = await t.manifest();
    }
    assert.notEqual(latest.report_id, first.report_id, "a periodic report was written");
  } finally {
    await t.dispose();
  }
});
