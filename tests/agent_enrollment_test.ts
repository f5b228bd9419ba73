/**
 * The whole agent (agent/main.ts) with `[agent.enrollment]` and no token:
 * against a pact-journal serving gRPC over TLS with its site CA, it reads
 * its hardware identity from the sandbox's /sys, enrolls, streams its boot
 * config over mTLS, journals drift under its node's certificate, reuses
 * the stored certificate on restart, and cannot boot from the journal once
 * the node is decommissioned.
 */
import assert from "node:assert/strict";
import { credentials } from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { JournalClient } from "../cli/client/journal_client.ts";
import { DeclaredState } from "../shared/proto/gen/pact/config/config.ts";
import { overlayUpdate } from "../shared/testing/entries.ts";
import { BootAgentProcess, removeSandboxNode, sandboxNode } from "./harness/boot_agent_process.ts";
import { runPact } from "./harness/cli_process.ts";
import { JournalProcess } from "./harness/journal_process.ts";
import { writeSiteCa } from "./harness/mtls_fixtures.ts";

const UUID = "4c4c4544-0042-3510-8052-b4c04f564439";
const MAC = "52:54:00:aa:00:09";
const NAME = { "grpc.ssl_target_name_override": "pact-journal" };

/** DMI and one physical NIC under the sandbox root, where the agent reads them. */
async function writeNodeSys(root: string): Promise<void> {
  const dmi = `${root}/sys/class/dmi/id`;
  await Deno.mkdir(dmi, { recursive: true });
  await Deno.writeTextFile(`${dmi}/product_uuid`, `${UUID.toUpperCase()}\n`);
  const eth0 = `${root}/sys/class/net/eth0`;
  await Deno.mkdir(`${eth0}/device`, { recursive: true });
  await Deno.writeTextFile(`${eth0}/type`, "1\n");
  await Deno.writeTextFile(`${eth0}/address`, `${MAC}\n`);
}

async function entriesOf(env: Record<string, string>, type: string, scope: string) {
  const log = await runPact(["log", "--json", "-n", "100"], env);
  assert.equal(log.code, 0, log.stderr);
  return (JSON.parse(log.stdout) as {
    type: string;
    scope: string;
    author: { principal: string; role: string };
  }[]).filter((e) => e.type === type && e.scope === scope);
}

Deno.test("pact-agent enrolls with only the CA bundle, boots and journals over mTLS, and is refused once decommissioned", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pact-agent-enroll-" });
  const site = await writeSiteCa(dir, "site");
  const journal = await JournalProcess.start({
    env: {
      PACT_JOURNAL_GRPC_TLS: "true",
      PACT_CA_CERT: site.certFile,
      PACT_CA_KEY: site.keyFile,
    },
  });
  const port = journal.grpcAddress.split(":")[1];
  const node = await sandboxNode("n9", "ml", [`127.0.0.1:${port}`]);
  let agent: BootAgentProcess | undefined;
  try {
    const env = {
      PACT_ENDPOINT: `https://localhost:${port}`,
      PACT_TOKEN: await journal.token(),
      GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: site.certFile,
    };
    const enrolled = await runPact(
      ["enroll", "n9", "--hardware-id", UUID, "--vcluster", "ml"],
      env,
    );
    assert.equal(enrolled.code, 0, enrolled.stderr);
    const admin = new JournalClient({
      endpoint: `https://${journal.grpcAddress}`,
      token: await journal.token(),
      timeoutSeconds: 10,
      credentials: credentials.createSsl(Buffer.from(site.ca.certPem)),
      channelOptions: NAME,
    });
    const declared = DeclaredState.fromPartial({
      files: [{ path: "/etc/app.conf", content: new TextEncoder().encode("a\n"), mode: "0644" }],
    });
    await admin.appendEntry({
      entry: overlayUpdate("ml", DeclaredState.encode(declared).finish()),
    });
    admin.close();

    await writeNodeSys(node.root);
    await Deno.writeTextFile(
      node.configPath,
      [
        "[agent.enrollment]",
        `journal_endpoints = ["127.0.0.1:${port}"]`,
        `ca_cert = "${site.certFile}"`,
        'cert_dir = "/var/lib/pact/certs"',
        "",
      ].join("\n"),
      { append: true },
    );
    // No PACT_AGENT_TOKEN: the certificate is the agent's only credential.
    agent = BootAgentProcess.start(["--config", node.configPath], {}, "agent");
    await agent.waitForLine(/boot: ready in \d+ ms/, 30_000);
    assert.match(agent.log, /identity .*enrolled: certificate [0-9a-f]+ for node n9/);
    assert.match(agent.log, /pull_config .*journal 127\.0\.0\.1:\d+: vCluster ml/);
    assert.equal(await Deno.readTextFile(`${node.root}/etc/app.conf`), "a\n");
    const keyMode = (await Deno.stat(`${node.root}/var/lib/pact/certs/key.pem`)).mode! & 0o777;
    assert.equal(keyMode, 0o600);
    const inspect = await runPact(["node", "inspect", "n9", "--json"], env);
    assert.equal(JSON.parse(inspect.stdout).state, "active", inspect.stdout);

    // The boot record and drift reach the journal under the node's certificate.
    await Deno.writeTextFile(`${node.root}/etc/app.conf`, "b\n");
    let drift: Awaited<ReturnType<typeof entriesOf>> = [];
    for (let i = 0; i < 75 && drift.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      drift = await entriesOf(env, "DRIFT_DETECTED", "node:n9");
    }
    assert.ok(drift.length > 0, `no DriftDetected for n9:\n${agent.log}`);
    assert.equal(drift[0]!.author.principal, "node/n9");
    assert.equal(drift[0]!.author.role, "pact-service-agent");
    const boots = await entriesOf(env, "BOOT_CONFIG", "node:n9");
    assert.ok(boots.some((e) => e.author.principal === "node/n9"), JSON.stringify(boots));
    assert.equal((await agent.stop()).code, 0, agent.log);

    // A restart reuses the stored certificate.
    agent = BootAgentProcess.start(["--config", node.configPath], {}, "agent");
    await agent.waitForLine(/boot: ready in \d+ ms/, 30_000);
    assert.match(agent.log, /identity .*reused stored certificate/);
    assert.equal((await agent.stop()).code, 0, agent.log);

    // Decommissioned: the stored certificate no longer opens the journal.
    const gone = await runPact(["node", "decommission", "n9", "--force"], env);
    assert.equal(gone.code, 0, gone.stderr);
    agent = BootAgentProcess.start(
      ["--config", node.configPath, "--journal-wait-ms", "3000"],
      {},
      "agent",
    );
    const status = await agent.finished();
    assert.notEqual(status.code, 0, agent.log);
    assert.match(agent.log, /refused the agent's certificate/);
  } finally {
    if (agent) await agent.stop();
    await journal.dispose();
    await removeSandboxNode(node);
    await Deno.remove(dir, { recursive: true });
  }
});
