/**
 * The shell over TLS end to end: a real journal serving gRPC over TLS with
 * its site CA, a real agent (agent/main.ts) that enrolls and serves its
 * shell with the enrolled certificate, and the CLI as a subprocess. `pact
 * exec` reaches the node over TLS from the registry's https address, with
 * --agent https://..., and in fan-out; a CLI trusting another CA, plaintext
 * to the TLS-only shell and a certificate for another node are refused in
 * one line with the unreachable exit code. An agent with tls = "required"
 * and no certificate boots without its shell and says why.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { credentials } from "@grpc/grpc-js";
import { JournalClient } from "../cli/client/journal_client.ts";
import { ExitCode } from "../shared/errors/mod.ts";
import { DeclaredState } from "../shared/proto/gen/pact/config/config.ts";
import { overlayUpdate } from "../shared/testing/entries.ts";
import {
  BootAgentProcess,
  removeSandboxNode,
  sandboxNode,
  startShellAgent,
  TEST_SHELL_AUTH,
} from "./harness/boot_agent_process.ts";
import { runPact } from "./harness/cli_process.ts";
import { JournalProcess } from "./harness/journal_process.ts";
import { writeSiteCa } from "./harness/mtls_fixtures.ts";

const UUID = "4c4c4544-0042-3510-8052-b4c04f564439";
const MAC = "52:54:00:aa:00:19";

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

/** An empty overlay for vCluster ml, so that its nodes can boot from the journal. */
async function declareMl(journal: JournalProcess, caPem?: string): Promise<void> {
  const admin = new JournalClient({
    endpoint: caPem ? `https://${journal.grpcAddress}` : journal.endpoint,
    token: await journal.token(),
    timeoutSeconds: 10,
    ...(caPem
      ? {
        credentials: credentials.createSsl(Buffer.from(caPem)),
        channelOptions: { "grpc.ssl_target_name_override": "pact-journal" },
      }
      : {}),
  });
  try {
    const empty = DeclaredState.encode(DeclaredState.fromPartial({})).finish();
    await admin.appendEntry({ entry: overlayUpdate("ml", empty) });
  } finally {
    admin.close();
  }
}

/** One line on stderr, nothing on stdout. */
function oneLine(result: { stdout: string; stderr: string }): string {
  const lines = result.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `expected one line:\n${result.stderr}`);
  return lines[0]!;
}

Deno.test("pact exec reaches an enrolled agent's shell over TLS and refuses another CA, plaintext and another node's certificate", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pact-shell-tls-" });
  const site = await writeSiteCa(dir, "site");
  const other = await writeSiteCa(dir, "other");
  const journal = await JournalProcess.start({
    env: { PACT_JOURNAL_GRPC_TLS: "true", PACT_CA_CERT: site.certFile, PACT_CA_KEY: site.keyFile },
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
    await declareMl(journal, site.ca.certPem);
    await writeNodeSys(node.root);
    await Deno.writeTextFile(
      node.configPath,
      [
        "[agent.enrollment]",
        `journal_endpoints = ["127.0.0.1:${port}"]`,
        `ca_cert = "${site.certFile}"`,
        TEST_SHELL_AUTH,
      ].join("\n"),
      { append: true },
    );
    agent = BootAgentProcess.start(["--config", node.configPath], {}, "agent");
    const listening = await agent.waitForLine(/shell: listening on \S+/, 30_000);
    assert.match(listening, /\(TLS: enrolled certificate [0-9A-Fa-f]+/);
    const address = /listening on (\S+)/.exec(listening)![1]!;
    await agent.waitForLine(/shell: address https:\/\/127\.0\.0\.1:\d+ journaled/, 15_000);

    // The registry's https address, the node's certificate checked against "n9".
    const viaRegistry = await runPact(["exec", "n9", "--", "echo", "over-tls"], env);
    assert.equal(viaRegistry.code, 0, viaRegistry.stderr);
    assert.equal(viaRegistry.stdout, "over-tls\n");

    const explicit = await runPact(
      ["exec", "n9", "--agent", `https://${address}`, "--", "echo", "explicit"],
      env,
    );
    assert.equal(explicit.code, 0, explicit.stderr);
    assert.equal(explicit.stdout, "explicit\n");

    const fleet = await runPact(["exec", "--vcluster", "ml", "--", "echo", "fleet"], env);
    assert.equal(fleet.code, 0, fleet.stderr);
    assert.match(fleet.stdout, /n9\n-+\nfleet\n/);

    // A CLI that trusts another CA refuses the agent's certificate.
    const untrusted = await runPact(
      ["exec", "n9", "--agent", `https://${address}`, "--", "echo", "x"],
      { ...env, GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: other.certFile },
    );
    assert.equal(untrusted.code, ExitCode.UNREACHABLE, untrusted.stderr);
    assert.match(oneLine(untrusted), /refused: its certificate is not trusted/);
    assert.equal(untrusted.stdout, "");

    // A valid certificate, but for n9: addressing n8 there is refused.
    const wrongNode = await runPact(
      ["exec", "n8", "--agent", `https://${address}`, "--", "echo", "x"],
      env,
    );
    assert.equal(wrongNode.code, ExitCode.UNREACHABLE, wrongNode.stderr);
    assert.match(oneLine(wrongNode), /agent certificate is for n9, not node n8/);

    // Plaintext to the TLS-only shell fails at once, saying why.
    const started = performance.now();
    const plaintext = await runPact(
      ["exec", "n9", "--agent", `http://${address}`, "--", "echo", "x"],
      env,
    );
    assert.equal(plaintext.code, ExitCode.UNREACHABLE, plaintext.stderr);
    assert.match(oneLine(plaintext), /the agent may serve TLS only \(use https:/);
    assert.ok(performance.now() - started < 20_000, "no hang");
  } finally {
    if (agent) await agent.stop();
    await journal.dispose();
    await removeSandboxNode(node);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test('an agent with [agent.shell] tls = "required" and no certificate boots without its shell and logs why', async () => {
  const journal = await JournalProcess.start();
  const node = await sandboxNode("n3", "ml", [journal.grpcAddress]);
  let agent: BootAgentProcess | undefined;
  try {
    await declareMl(journal);
    const config = await Deno.readTextFile(node.configPath);
    await Deno.writeTextFile(
      node.configPath,
      config.replace('listen = "127.0.0.1:0"', 'listen = "127.0.0.1:0"\ntls = "required"') +
        TEST_SHELL_AUTH,
    );
    const token = await journal.token("pact-service-agent", "agent-n3", "agent");
    agent = BootAgentProcess.start(
      ["--config", node.configPath],
      { PACT_AGENT_TOKEN: token },
      "agent",
    );
    const refused = await agent.waitForLine(/shell: not started: .*/, 30_000);
    assert.match(refused, /\[agent\.shell\] tls = "required" but no certificate/);
    await agent.waitForLine(/boot: ready in \d+ ms/, 30_000);
    assert.doesNotMatch(agent.log, /shell: listening on/);
    assert.equal((await agent.stop()).code, 0, agent.log);
    agent = undefined;

    // auto (the default) without a certificate: plaintext, with a warning, and it works.
    await Deno.writeTextFile(node.configPath, config + TEST_SHELL_AUTH);
    const started = await startShellAgent(journal, "n3", node.configPath);
    agent = started.agent;
    assert.match(agent.log, /shell: WARN serving plaintext.*no certificate/);
    const exec = await runPact(
      ["exec", "n3", "--agent", started.address, "--", "echo", "plain"],
      { PACT_ENDPOINT: journal.endpoint, PACT_TOKEN: await journal.token() },
    );
    assert.equal(exec.code, 0, exec.stderr);
    assert.equal(exec.stdout, "plain\n");
  } finally {
    if (agent) await agent.stop();
    await journal.dispose();
    await removeSandboxNode(node);
  }
});
