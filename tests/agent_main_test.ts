/**
 * The whole agent (agent/main.ts, what bin/pact-agent runs) against a real
 * pact-journal: it boots a sandbox node from the journal's overlay, then
 * watches it: a change to a declared file is journaled as DriftDetected
 * (visible through `pact log`), and SIGTERM stops its service and exits 0.
 */
import assert from "node:assert/strict";
import { JournalClient } from "../cli/client/journal_client.ts";
import { DeclaredState, ServiceDecl } from "../shared/proto/gen/pact/config/config.ts";
import { overlayUpdate } from "../shared/testing/entries.ts";
import { runPact } from "./harness/cli_process.ts";
import { JournalProcess } from "./harness/journal_process.ts";
import { BootAgentProcess, removeSandboxNode, sandboxNode } from "./harness/boot_agent_process.ts";

const encoder = new TextEncoder();

Deno.test("pact-agent boots its node, journals drift of a declared file, and stops on SIGTERM", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "pact-test-agent-main-" });
  const journal = await JournalProcess.start({ dataDir });
  const node = await sandboxNode("n7", "ml", [journal.grpcAddress]);
  let agent: BootAgentProcess | undefined;
  try {
    const admin = new JournalClient({
      endpoint: journal.endpoint,
      token: await journal.token(),
      timeoutSeconds: 10,
    });
    const declared = DeclaredState.fromPartial({
      files: [{ path: "/etc/app.conf", content: encoder.encode("threads = 8\n"), mode: "0644" }],
      services: [
        ServiceDecl.fromPartial({
          name: "app",
          binary: "/bin/sh",
          args: ["-c", `echo "$$" > ${node.root}/run/app.pid; exec sleep 600`],
          restartPolicy: "on_failure",
        }),
      ],
    });
    await admin.appendEntry({
      entry: overlayUpdate("ml", DeclaredState.encode(declared).finish()),
    });
    admin.close();
    const env = {
      PACT_AGENT_TOKEN: await journal.token("pact-service-agent", "agent-n7", "agent"),
    };
    agent = BootAgentProcess.start(["--config", node.configPath], env, "agent");
    await agent.waitForLine(/boot: ready in \d+ ms/);
    assert.equal(await Deno.readTextFile(`${node.root}/etc/app.conf`), "threads = 8\n");
    const servicePid = Number(await Deno.readTextFile(`${node.root}/run/app.pid`));
    Deno.kill(servicePid, "SIGCONT"); // throws unless the service runs

    // Drift: someone edits the declared file on the node.
    await Deno.writeTextFile(`${node.root}/etc/app.conf`, "threads = 64\n");
    const pactEnv = { PACT_ENDPOINT: journal.endpoint, PACT_TOKEN: await journal.token() };
    let drift: { type: string; scope: string }[] = [];
    for (let i = 0; i < 50 && drift.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const log = await runPact(["log", "--json", "-n", "50"], pactEnv);
      assert.equal(log.code, 0, log.stderr);
      drift = (JSON.parse(log.stdout) as { type: string; scope: string }[])
        .filter((e) => e.type === "DRIFT_DETECTED" && e.scope === "node:n7");
    }
    assert.ok(drift.length > 0, `no DriftDetected entry for n7 journaled:\n${agent.log}`);
    // The service's start during the boot was journaled once the queue opened.
    const log = await runPact(["log", "--json", "-n", "50"], pactEnv);
    const lifecycle = (JSON.parse(log.stdout) as { type: string; scope: string; message: string }[])
      .filter((e) => e.type === "SERVICE_LIFECYCLE" && e.scope === "node:n7");
    assert.ok(
      lifecycle.some((e) => /^app start/.test(e.message)),
      `no SERVICE_LIFECYCLE start of app: ${JSON.stringify(lifecycle)}`,
    );

    const status = await agent.stop();
    assert.equal(status.code, 0, agent.log);
    assert.match(agent.log, /pact-agent: stopping/);
    assert.throws(() => Deno.kill(servicePid, "SIGCONT"), "the service was stopped");
  } finally {
    if (agent) await agent.stop();
    await journal.dispose();
    await removeSandboxNode(node);
    await Deno.remove(dataDir, { recursive: true });
  }
});
