/**
 * The capability reporter end to end: a real journal and a real agent
 * (agent/main.ts) booting a sandbox node whose root holds an x86 fixture
 * (/proc, /sys) and a fake nvidia-smi (a test double printing nvidia-smi's
 * CSV) listing four A100s, with the GPU poll at 1 s. The manifest and the
 * unix socket hold the report; `pact cap` shows it (text and --json); when
 * GPU 3 starts reporting ECC errors the next poll updates the report and
 * journals a CAPABILITY_CHANGE entry with the key gpu.3.health.
 */
import assert from "node:assert/strict";
import { JournalClient } from "../cli/client/journal_client.ts";
import { DeclaredState, ServiceDecl } from "../shared/proto/gen/pact/config/config.ts";
import { overlayUpdate } from "../shared/testing/entries.ts";
import { fakeTool, FOUR_A100, x86Tree } from "../agent/capability/_fixtures.ts";
import type { CapabilityReport } from "../agent/capability/report_types.ts";
import { runPact } from "./harness/cli_process.ts";
import { JournalProcess } from "./harness/journal_process.ts";
import {
  removeSandboxNode,
  sandboxNode,
  startShellAgent,
  TEST_SHELL_AUTH,
} from "./harness/boot_agent_process.ts";

const HEALTHY = FOUR_A100.replace(", 12, Not Active", ", 0, Not Active");

async function declareService(journal: JournalProcess): Promise<void> {
  const admin = new JournalClient({
    endpoint: journal.endpoint,
    token: await journal.token(),
    timeoutSeconds: 10,
  });
  const declared = DeclaredState.fromPartial({
    services: [
      ServiceDecl.fromPartial({
        name: "chronyd",
        binary: "/bin/sh",
        args: ["-c", "exec sleep 600"],
        restartPolicy: "on_failure",
        order: 1,
      }),
    ],
  });
  await admin.appendEntry({ entry: overlayUpdate("ml", DeclaredState.encode(declared).finish()) });
  admin.close();
}

async function askSocket(path: string): Promise<CapabilityReport> {
  const conn = await Deno.connect({ transport: "unix", path });
  await conn.closeWrite();
  return JSON.parse(await new Response(conn.readable).text()) as CapabilityReport;
}

Deno.test("pact cap shows a node's capability report from its agent; a degraded GPU updates it and is journaled", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "pact-test-cap-" });
  const journal = await JournalProcess.start({ dataDir });
  const node = await sandboxNode("n1", "ml", [journal.grpcAddress]);
  let agent: Awaited<ReturnType<typeof startShellAgent>>["agent"] | undefined;
  try {
    await declareService(journal);
    await x86Tree(node.root);
    await fakeTool(node.root, "nvidia-smi", HEALTHY);
    await Deno.writeTextFile(
      node.configPath,
      `[agent.capability]\ngpu_poll_interval_seconds = 1\n${TEST_SHELL_AUTH}`,
      { append: true },
    );
    const started = await startShellAgent(journal, "n1", node.configPath);
    agent = started.agent;
    const admin = { PACT_TOKEN: await journal.token(), PACT_ENDPOINT: journal.endpoint };
    const at = ["--agent", started.address];

    // The boot wrote the manifest after the services started.
    await agent.waitForLine(/boot: ok\s+capability .*x86_64 8 CPUs, .* 4 GPUs/);
    const manifest = JSON.parse(
      await Deno.readTextFile(`${node.root}/run/pact/capability.json`),
    ) as CapabilityReport;
    assert.equal(manifest.node_id, "n1");
    assert.equal(manifest.vcluster, "ml");
    assert.equal(manifest.memory.total_bytes, 527988152 * 1024);
    assert.equal(manifest.gpus.length, 4);
    assert.equal(manifest.supervisor_status.declared, 1);

    // The socket answers an empty request with the latest report.
    const fromSocket = await askSocket(`${node.root}/run/pact/capability.sock`);
    assert.equal(fromSocket.node_id, "n1");
    assert.equal(fromSocket.cpu.physical_cores, 4);

    const text = await runPact(["cap", "n1", ...at], admin);
    assert.equal(text.code, 0, text.stderr + agent.log);
    assert.match(text.stdout, /^Node n1 \(vcluster ml\): config committed/);
    assert.match(text.stdout, /GPUs: +4x A100-SXM4-80GB \(healthy\)\n/);
    assert.match(
      text.stdout,
      /CPU: +x86_64 Intel\(R\) Xeon\(R\) Platinum 8480\+ .*4 cores \/ 8 threads/,
    );
    assert.match(text.stdout, /Services: 1 declared, 1 running, 0 failed \(pact backend\)/);

    // GPU 3 starts reporting uncorrectable ECC errors: the next poll (1 s) sees it.
    await fakeTool(node.root, "nvidia-smi", FOUR_A100);
    const deadline = Date.now() + 20_000;
    let report: CapabilityReport | undefined;
    while (Date.now() < deadline) {
      const json = await runPact(["cap", "--node", "n1", ...at, "--json"], admin);
      assert.equal(json.code, 0, json.stderr);
      report = JSON.parse(json.stdout) as CapabilityReport;
      if (report.gpus[3]?.health === "degraded") break;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    assert.equal(report?.gpus[3]?.health, "degraded", agent.log);
    assert.equal(report?.gpus[3]?.health_detail, "ECC uncorrectable: 12");
    const after = await runPact(["cap", "n1", ...at], admin);
    assert.match(
      after.stdout,
      /GPUs: +3x A100-SXM4-80GB \(healthy\), 1x A100-SXM4-80GB \(DEGRADED - ECC uncorrectable: 12\)/,
    );
    assert.match(after.stdout, /gpu\[3\]: DEGRADED \(ECC uncorrectable: 12\)/);

    // The change is journaled through the agent's queue as CAPABILITY_CHANGE.
    let change: { type: string; scope: string; message: string } | undefined;
    while (change === undefined && Date.now() < deadline) {
      const log = await runPact(["log", "--json", "-n", "50"], admin);
      assert.equal(log.code, 0, log.stderr);
      change = (JSON.parse(log.stdout) as { type: string; scope: string; message: string }[])
        .find((e) => e.type === "CAPABILITY_CHANGE" && e.scope === "node:n1");
      if (change === undefined) await new Promise((resolve) => setTimeout(resolve, 300));
    }
    assert.ok(change, agent.log);
    assert.match(change.message, /gpu\.3\.health healthy -> degraded \(ECC uncorrectable: 12\)/);

    // A viewer of the vCluster may read it; ops of another vCluster may not.
    const viewer = { PACT_TOKEN: await journal.token("pact-viewer-ml", "viewer@example.org") };
    assert.equal((await runPact(["cap", "n1", ...at], viewer)).code, 0);
    const other = { PACT_TOKEN: await journal.token("pact-ops-storage", "ops@example.org") };
    const denied = await runPact(["cap", "n1", ...at], other);
    assert.equal(denied.code, 2);
    assert.match(denied.stderr, /GetCapability on node n1 refused for ops@example\.org/);

    // A usage mistake: commander's one line, the CLI's usage exit code (as every command).
    const extra = await runPact(["cap", "n1", "n2", ...at], admin);
    assert.equal(extra.code, 1);
    assert.match(extra.stderr, /^error: too many arguments for 'cap'/);
    const help = await runPact(["cap", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /pact cap node042/);
  } finally {
    const running = agent as { stop(): Promise<Deno.CommandStatus>; log: string } | undefined;
    if (running) assert.equal((await running.stop()).code, 0, running.log);
    await journal.dispose();
    await removeSandboxNode(node);
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});
