/**
 * `pact diag` end to end: a real journal and three real agents (sandbox
 * nodes n1, n2, n3 of vCluster ml, each with a kernel log, a syslog and a
 * supervised service), registered in the journal's node registry. Each
 * agent journals where its shell listens (a free loopback port), so the
 * CLI finds it through the registry, never through `<node>:9445`. The
 * CLI reads one node (filtered on the agent), then the fleet grouped by
 * identical output; a killed agent is reported unreachable with the
 * others' results; a failure threshold stops the rollout.
 */
import assert from "node:assert/strict";
import { JournalClient } from "../cli/client/journal_client.ts";
import { writeSandbox } from "../agent/host/sandbox_host.ts";
import { DeclaredState, ServiceDecl } from "../shared/proto/gen/pact/config/config.ts";
import { overlayUpdate } from "../shared/testing/entries.ts";
import { runPact } from "./harness/cli_process.ts";
import { JournalProcess } from "./harness/journal_process.ts";
import {
  BootAgentProcess,
  removeSandboxNode,
  type SandboxNode,
  sandboxNode,
  startShellAgent,
  TEST_SHELL_AUTH,
} from "./harness/boot_agent_process.ts";

/** kmsg records: n1 and n2 share theirs; n3 has an extra Xid error. */
function kmsg(node: string): string {
  const records = [
    "6,1,1000000,-;usb 1-1: new high-speed USB device",
    "3,2,2000000,-;Out of memory: Killed process 101 (python)",
    "6,3,3000000,-;usb 1-2: new high-speed USB device",
    "3,4,4000000,-;Out of memory: Killed process 202 (python)",
  ];
  if (node === "n3") records.push("4,5,5000000,-;NVRM: Xid 79, GPU has fallen off the bus");
  return records.map((r) => `${r}\n`).join("");
}

async function declareServices(journal: JournalProcess): Promise<void> {
  const admin = new JournalClient({
    endpoint: journal.endpoint,
    token: await journal.token(),
    timeoutSeconds: 10,
  });
  const declared = DeclaredState.fromPartial({
    services: [
      ServiceDecl.fromPartial({
        name: "db",
        binary: "/bin/sh",
        args: ["-c", 'echo "db ready"; echo "db warning: slow disk"; exec sleep 600'],
        restartPolicy: "on_failure",
        order: 1,
      }),
    ],
  });
  await admin.appendEntry({ entry: overlayUpdate("ml", DeclaredState.encode(declared).finish()) });
  admin.close();
}

interface Agent {
  readonly node: SandboxNode;
  readonly process: BootAgentProcess;
}

async function startAgent(journal: JournalProcess, nodeId: string): Promise<Agent> {
  const node = await sandboxNode(nodeId, "ml", [journal.grpcAddress]);
  await writeSandbox(node.root, {
    files: { "/dev/kmsg": kmsg(nodeId), "/var/log/syslog": "sshd: ok\ncron: ran backup\n" },
  });
  await Deno.writeTextFile(node.configPath, TEST_SHELL_AUTH, { append: true });
  const { agent: process } = await startShellAgent(journal, nodeId, node.configPath);
  // The registry has the address once this entry is journaled.
  await process.waitForLine(/shell: address \S+ journaled as seq:\d+/, 40_000);
  return { node, process };
}

Deno.test("pact diag reads one node filtered on its agent and a vCluster grouped by output", async (t) => {
  const dataDir = await Deno.makeTempDir({ prefix: "pact-test-diag-" });
  const journal = await JournalProcess.start({ dataDir });
  const agents: Agent[] = [];
  try {
    await declareServices(journal);
    const admin = { PACT_TOKEN: await journal.token(), PACT_ENDPOINT: journal.endpoint };
    for (const [index, node] of ["n1", "n2", "n3"].entries()) {
      const mac = `52:54:00:00:00:0${index + 1}`;
      const enrolled = await runPact(
        ["enroll", node, "--hardware-id", mac, "--vcluster", "ml"],
        admin,
      );
      assert.equal(enrolled.code, 0, enrolled.stderr);
    }
    agents.push(...await Promise.all(["n1", "n2", "n3"].map((n) => startAgent(journal, n))));
    const log = () => agents.map((a) => a.process.log).join("\n");

    await t.step("one node: --grep and --lines are applied on the agent", async () => {
      // No --agent: the address comes from the registry (n1:9445 would not resolve).
      const result = await runPact(
        ["diag", "n1", "--source", "system", "--grep", "Out of memory", "--lines", "1", "--json"],
        admin,
      );
      assert.equal(result.code, 0, result.stderr + log());
      const view = JSON.parse(result.stdout) as {
        node: string;
        sources: { source: string; lines: string[]; truncated: boolean }[];
      };
      assert.deepEqual(view, {
        node: "n1",
        sources: [
          {
            source: "dmesg",
            lines: ["[    4.000000] Out of memory: Killed process 202 (python)"],
            truncated: true,
          },
          { source: "syslog", lines: [], truncated: false },
        ],
      });
      const text = await runPact(["diag", "n1", "--source", "system", "--grep", "usb"], admin);
      assert.equal(text.code, 0, text.stderr);
      assert.equal(
        text.stdout,
        "==> dmesg <==\n[    1.000000] usb 1-1: new high-speed USB device\n" +
          "[    3.000000] usb 1-2: new high-speed USB device\n==> syslog (no lines) <==\n",
      );
    });

    await t.step("service source, unknown service, journaled DIAG_COLLECT", async () => {
      const service = await runPact(
        ["diag", "n2", "--source", "service", "--service", "db"],
        admin,
      );
      assert.equal(service.code, 0, service.stderr);
      assert.equal(service.stdout, "==> service:db <==\ndb ready\ndb warning: slow disk\n");
      const missing = await runPact(
        ["diag", "n2", "--service", "nope", "--source", "service"],
        admin,
      );
      assert.equal(missing.code, 0, missing.stderr);
      assert.match(missing.stdout, /service 'nope' not found in supervisor/);
      const entries = await runPact(["log", "--json", "-n", "100"], admin);
      const diag =
        (JSON.parse(entries.stdout) as { type: string; scope: string; message: string }[])
          .filter((e) => e.type === "DIAG_COLLECT");
      assert.ok(
        diag.some((e) =>
          e.scope === "node:n1" && /diag by admin@example\.org: system, grep "usb"/.test(e.message)
        ),
        entries.stdout,
      );
    });

    await t.step("a viewer is refused; an invalid pattern is a clear error", async () => {
      const viewer = {
        ...admin,
        PACT_TOKEN: await journal.token("pact-viewer-ml", "viewer@example.org"),
      };
      const denied = await runPact(["diag", "n1"], viewer);
      assert.equal(denied.code, 2, denied.stdout);
      assert.match(denied.stderr, /Diagnostics on node n1 refused for viewer@example\.org/);
      const bad = await runPact(["diag", "n1", "--grep", "([a-z"], admin);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /^pact: Invalid grep pattern "\(\[a-z": /);
      const lines = await runPact(["diag", "n1", "--lines", "10001"], admin);
      assert.equal(lines.code, 1);
      assert.match(lines.stderr, /Invalid --lines "10001"/);
    });

    await t.step("fleet: identical outputs once under their node list", async () => {
      const fleet = await runPact([
        "diag",
        "--vcluster",
        "ml",
        "--source",
        "system",
        "--lines",
        "2",
      ], admin);
      assert.equal(fleet.code, 0, fleet.stderr + log());
      const rule = "----------------";
      assert.match(fleet.stdout, new RegExp(`^${rule}\\nn\\[1-2\\]\\n${rule}\\n==> dmesg`));
      assert.match(fleet.stdout, new RegExp(`${rule}\\nn3\\n${rule}\\n==> dmesg[^]*NVRM: Xid 79`));
      assert.equal(fleet.stdout.split("NVRM").length, 2, "n3's output printed once");
      assert.match(fleet.stderr, /3 node\(s\): 3 ok, 0 unreachable, 0 failed/);
      const prefixed = await runPact(
        ["diag", "--vcluster", "ml", "--source", "service", "--prefix"],
        admin,
      );
      assert.equal(prefixed.code, 0, prefixed.stderr);
      for (const node of ["n1", "n2", "n3"]) {
        assert.match(prefixed.stdout, new RegExp(`^\\[${node}\\] db warning: slow disk$`, "m"));
      }
      const empty = await runPact(["diag", "--vcluster", "nothing"], admin);
      assert.equal(empty.code, 1);
      assert.match(empty.stderr, /No nodes found in vCluster nothing/);
    });

    await t.step(
      "fleet: a killed agent is unreachable, the others' results still print",
      async () => {
        await agents[0]!.process.stop();
        const fleet = await runPact(["diag", "--vcluster", "ml", "--source", "service"], admin);
        assert.equal(fleet.code, 1, fleet.stderr);
        assert.match(fleet.stderr, /^\[WARN\] n1: unreachable \(connection refused\)$/m);
        assert.match(fleet.stdout, /^n\[2-3\]$/m);
        assert.doesNotMatch(fleet.stdout, /n1/);
        const json = await runPact(
          ["diag", "--vcluster", "ml", "--source", "service", "--json"],
          admin,
        );
        const nodes =
          (JSON.parse(json.stdout) as { nodes: { node: string; status: string }[] }).nodes;
        assert.deepEqual(nodes.map((n) => [n.node, n.status]), [
          ["n1", "unreachable"],
          ["n2", "ok"],
          ["n3", "ok"],
        ]);
      },
    );

    await t.step("fleet: --max-failures stops starting new nodes", async () => {
      const stopped = await runPact(
        ["diag", "--vcluster", "ml", "--concurrency", "1", "--max-failures", "0"],
        admin,
      );
      assert.equal(stopped.code, 1, stopped.stderr);
      assert.match(
        stopped.stderr,
        /stopped after more than 0 failed node\(s\) \(--max-failures\): 2 node\(s\) not started: n\[2-3\]/,
      );
      assert.equal(stopped.stdout, "");
      // Every agent down: exit 5.
      await Promise.all(agents.slice(1).map((a) => a.process.stop()));
      const down = await runPact(["diag", "--vcluster", "ml"], admin);
      assert.equal(down.code, 5, down.stderr);
    });
  } finally {
    for (const agent of agents) {
      await agent.process.stop();
      await removeSandboxNode(agent.node);
    }
    await journal.dispose();
    await Deno.remove(dataDir, { recursive: true });
  }
});
