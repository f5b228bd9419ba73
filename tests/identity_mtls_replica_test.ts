/**
 * Revocation reaches every journal: a one-member etcd quorum and a read
 * replica, both serving gRPC over TLS with the same site CA. A node
 * enrolled through the member streams its boot config from the replica
 * over mTLS; once the member journals its decommission, the replica
 * refuses the node's certificate too (it checks against the log it tails).
 */
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { AgentIdentity, readHardwareIdentity } from "../agent/identity/mod.ts";
import { runPact } from "./harness/cli_process.ts";
import { etcdAvailable, JournalQuorum } from "./harness/journal_quorum.ts";
import { streamBoot, writeFakeSys, writeSiteCa } from "./harness/mtls_fixtures.ts";

const UUID = "4c4c4544-0042-3510-8052-b4c04f564435";

Deno.test({
  name: "mTLS: a decommission journaled by one journal is refused by a read replica at once",
  ignore: !etcdAvailable(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pact-mtls-replica-" });
    const site = await writeSiteCa(dir, "site");
    const quorum = await JournalQuorum.start(1, {
      env: {
        PACT_JOURNAL_GRPC_TLS: "true",
        PACT_CA_CERT: site.certFile,
        PACT_CA_KEY: site.keyFile,
      },
    });
    try {
      const member = quorum.journal(0);
      const replica = await quorum.addReplica();
      const env = {
        PACT_ENDPOINT: `https://localhost:${member.grpcAddress.split(":")[1]}`,
        PACT_TOKEN: await member.token(),
        GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: site.certFile,
      };
      const out = await runPact(["enroll", "n5", "--hardware-id", UUID], env);
      assert.equal(out.code, 0, out.stderr);
      const identity = new AgentIdentity({
        endpoints: [member.grpcAddress],
        caBundlePem: site.ca.certPem,
        hardware: await readHardwareIdentity(
          await writeFakeSys(`${dir}/sys`, {
            uuid: UUID,
            mac: "52:54:00:aa:00:05",
            serial: "SN-5",
          }),
        ),
      });
      await identity.start();
      const viaReplica = () =>
        streamBoot(replica.grpcAddress, identity.credentials(), identity.channelOptions(), {
          nodeId: "n5",
        });
      // The replica may need a moment to tail the activation.
      let boot = await viaReplica();
      for (let i = 0; i < 20 && !boot.ok; i++) {
        await new Promise((r) => setTimeout(r, 250));
        boot = await viaReplica();
      }
      assert.ok(boot.ok, `the replica accepts the node's certificate: ${boot.details}`);

      const decommission = await runPact(["node", "decommission", "n5"], env);
      assert.equal(decommission.code, 0, decommission.stderr);
      const started = Date.now();
      let refused = await viaReplica();
      while (refused.ok && Date.now() - started < 5_000) {
        await new Promise((r) => setTimeout(r, 50));
        refused = await viaReplica();
      }
      assert.equal(refused.code, status.UNAUTHENTICATED, refused.details);
      assert.match(refused.details, /revoked/);
      console.log(
        `replica refused the revoked certificate ${
          Date.now() - started
        } ms after the decommission returned`,
      );
    } finally {
      await quorum.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
