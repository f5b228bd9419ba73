/**
 * SPIRE in the identity cascade, with a test double of the SPIRE agent
 * that speaks the real Workload API on a unix socket and issues SVIDs from
 * its own CA. A journal over TLS trusts that CA as its SPIFFE bundle:
 * pact-agent boots with its SVID (no enrollment), the journal accepts the
 * SVID for its node only; a node without the socket enrolls by CSR and
 * rotates to the SVID once SPIRE answers.
 */
import assert from "node:assert/strict";
import { credentials, status } from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { JournalClient } from "../cli/client/journal_client.ts";
import { DeclaredState } from "../shared/proto/gen/pact/config/config.ts";
import { overlayUpdate } from "../shared/testing/entries.ts";
import { AgentIdentity, readHardwareIdentity, SpireWorkloadSource } from "../agent/identity/mod.ts";
import { ManualClock } from "../shared/clock/clock.ts";
import { BootAgentProcess, removeSandboxNode, sandboxNode } from "./harness/boot_agent_process.ts";
import { runPact } from "./harness/cli_process.ts";
import { JournalProcess } from "./harness/journal_process.ts";
import { streamBoot, tlsCredentials, writeFakeSys, writeSiteCa } from "./harness/mtls_fixtures.ts";
import { FakeSpireAgent } from "./harness/spire_agent.ts";

const NAME = { "grpc.ssl_target_name_override": "pact-journal" };
const TRUST_DOMAIN = "example.org";
const UUID_A = "4c4c4544-0042-3510-8052-b4c04f5644a1";
const UUID_B = "4c4c4544-0042-3510-8052-b4c04f5644b2";

Deno.test("SPIRE: agents boot with an SVID, the journal accepts it for its node only, no socket falls back to enrollment", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "pact-spire-" });
  const site = await writeSiteCa(dir, "site");
  const spire = await FakeSpireAgent.start(`${dir}/spire.sock`, TRUST_DOMAIN);
  const stranger = await FakeSpireAgent.start(`${dir}/other.sock`, TRUST_DOMAIN);
  await Deno.writeTextFile(`${dir}/bundle.pem`, spire.bundlePem);
  const journal = await JournalProcess.start({
    env: {
      PACT_JOURNAL_GRPC_TLS: "true",
      PACT_CA_CERT: site.certFile,
      PACT_CA_KEY: site.keyFile,
      PACT_SPIFFE_TRUST_DOMAIN: TRUST_DOMAIN,
      PACT_SPIFFE_TRUST_BUNDLE: `${dir}/bundle.pem`,
    },
  });
  const port = journal.grpcAddress.split(":")[1];
  const env = {
    PACT_ENDPOINT: `https://localhost:${port}`,
    PACT_TOKEN: await journal.token(),
    GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: site.certFile,
  };
  const svidOf = async (agent: FakeSpireAgent, node: string) => {
    await agent.assign(`spiffe://${TRUST_DOMAIN}/pact-agent/${node}`);
    return await new SpireWorkloadSource(agent.socketPath, 5_000).fetch();
  };
  const bootWith = (svid: { keyPem: string; certPem: string }, nodeId: string) =>
    streamBoot(journal.grpcAddress, tlsCredentials(site.ca.certPem, svid), NAME, { nodeId });
  try {
    for (const [node, uuid] of [["s1", UUID_A], ["s2", UUID_B]]) {
      const out = await runPact(["enroll", node!, "--hardware-id", uuid!, "--vcluster", "ml"], env);
      assert.equal(out.code, 0, out.stderr);
    }
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

    await t.step("the journal accepts an SVID over mTLS for its own node only", async () => {
      const s1 = await svidOf(spire, "s1");
      const ok = await bootWith(s1, "s1");
      assert.ok(ok.ok, ok.details);
      const other = await bootWith(s1, "s2");
      assert.equal(other.code, status.PERMISSION_DENIED, other.details);
      assert.match(other.details, /belongs to node s1/);
      const unknown = await bootWith(await svidOf(spire, "s9"), "s9");
      assert.equal(unknown.code, status.UNAUTHENTICATED, unknown.details);
      assert.match(unknown.details, /node s9 of SVID .* is not registered/);
      const foreign = await bootWith(await svidOf(stranger, "s1"), "s1");
      assert.equal(foreign.code, status.UNAUTHENTICATED, foreign.details);
      // The TLS client offers no certificate the server's CA list does not name.
      assert.match(foreign.details, /not signed by the SPIFFE trust bundle|No credentials/);
      await spire.assign(`spiffe://${TRUST_DOMAIN}/workload/s1`);
      const notNode = await new SpireWorkloadSource(spire.socketPath, 5_000).fetch()
        .then(() => "fetched", (err: Error) => err.message);
      assert.match(notNode, /issued no SVID for a pact node/);
    });

    await t.step("pact-agent boots with its SVID from the socket and enrolls nothing", async () => {
      const node = await sandboxNode("s1", "ml", [`127.0.0.1:${port}`]);
      let agent: BootAgentProcess | undefined;
      try {
        await Deno.mkdir(`${node.root}/run/spire`, { recursive: true });
        const inSandbox = await FakeSpireAgent.startWithCaOf(
          spire,
          `${node.root}/run/spire/agent.sock`,
        );
        await inSandbox.assign(`spiffe://${TRUST_DOMAIN}/pact-agent/s1`);
        const dmi = `${node.root}/sys/class/dmi/id`;
        await Deno.mkdir(dmi, { recursive: true });
        await Deno.writeTextFile(`${dmi}/product_uuid`, `${UUID_A.toUpperCase()}\n`);
        await Deno.writeTextFile(
          node.configPath,
          [
            "[agent.enrollment]",
            `journal_endpoints = ["127.0.0.1:${port}"]`,
            `ca_cert = "${site.certFile}"`,
            "",
          ].join("\n"),
          { append: true },
        );
        agent = BootAgentProcess.start(["--config", node.configPath], {}, "agent");
        await agent.waitForLine(/boot: ready in \d+ ms/, 30_000);
        assert.match(agent.log, /identity .*SPIRE SVID: certificate [0-9a-f]+ for node s1/);
        assert.match(agent.log, /pull_config .*journal 127\.0\.0\.1:\d+: vCluster ml/);
        assert.equal(inSandbox.served >= 1, true);
        // No CSR enrollment happened: the registry still says registered.
        const inspect = await runPact(["node", "inspect", "s1", "--json"], env);
        assert.equal(JSON.parse(inspect.stdout).state, "registered", inspect.stdout);
        await assert.rejects(Deno.stat(`${node.root}/var/lib/pact/certs/key.pem`));
        assert.equal((await agent.stop()).code, 0, agent.log);
        agent = undefined;
        await inSandbox.stop();
      } finally {
        if (agent) await agent.stop();
        await removeSandboxNode(node);
      }
    });

    await t.step("without a socket the node enrolls by CSR, then rotates to the SVID", async () => {
      const socket = `${dir}/late.sock`;
      const clock = new ManualClock(Date.now());
      const identity = new AgentIdentity({
        endpoints: [journal.grpcAddress],
        caBundlePem: site.ca.certPem,
        hardware: await readHardwareIdentity(
          await writeFakeSys(`${dir}/sys-b`, {
            uuid: UUID_B,
            mac: "52:54:00:aa:00:b2",
            serial: "SN-B",
          }),
        ),
        clock,
        spire: new SpireWorkloadSource(socket, 5_000),
        spireRetryMs: 60_000,
        caCheckIntervalMs: 3_600_000,
      });
      const first = await identity.start();
      assert.equal(first.source, "journal-ca");
      const changes: string[] = [];
      identity.onChange((change) => changes.push(change));
      const late = await FakeSpireAgent.startWithCaOf(spire, socket);
      try {
        await late.assign(`spiffe://${TRUST_DOMAIN}/pact-agent/s2`);
        // Not yet due: SPIRE was asked at start.
        clock.advance(1_000);
        assert.equal(await identity.maintain(), undefined);
        clock.advance(60_000);
        assert.equal(await identity.maintain(), "svid");
        assert.deepEqual(changes, ["svid"]);
        assert.equal(identity.held.source, "spire");
        assert.equal(identity.held.nodeId, "s2");
        const boot = await streamBoot(
          journal.grpcAddress,
          identity.credentials(),
          identity.channelOptions(),
          { nodeId: "s2" },
        );
        assert.ok(boot.ok, boot.details);
        // A decommission ends the SVID's access too.
        const gone = await runPact(["node", "decommission", "s2", "--force"], env);
        assert.equal(gone.code, 0, gone.stderr);
        const refused = await streamBoot(
          journal.grpcAddress,
          identity.credentials(),
          identity.channelOptions(),
          { nodeId: "s2" },
        );
        assert.equal(refused.code, status.UNAUTHENTICATED, refused.details);
        assert.match(refused.details, /revoked/);
      } finally {
        await late.stop();
      }
    });
  } finally {
    await journal.dispose();
    await spire.stop();
    await stranger.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
