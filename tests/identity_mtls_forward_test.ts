/**
 * Agent writes through a read replica under mTLS: the replica verifies the
 * node's client certificate and forwards the write to the quorum member
 * over mTLS as itself, naming the node in `pact-forwarded-*` headers; the
 * member accepts those headers only from a journal's certificate. A
 * client that sets them itself (with an admin token, or with a node's own
 * certificate) is refused.
 */
import assert from "node:assert/strict";
import { JournalClient } from "../cli/client/journal_client.ts";
import { AgentIdentity, readHardwareIdentity } from "../agent/identity/mod.ts";
import { isPactError } from "../shared/errors/mod.ts";
import { EntryType, PrincipalType } from "../shared/proto/gen/pact/config/config.ts";
import { entry } from "../shared/testing/entries.ts";
import { runPact } from "./harness/cli_process.ts";
import { etcdAvailable, JournalQuorum } from "./harness/journal_quorum.ts";
import { tlsCredentials, writeFakeSys, writeSiteCa } from "./harness/mtls_fixtures.ts";

const UUID = "4c4c4544-0042-3510-8052-b4c04f564436";
const NAME = {
  "grpc.ssl_target_name_override": "pact-journal",
  "grpc.default_authority": "pact-journal",
};

function drift(nodeId: string) {
  return entry(EntryType.DRIFT_DETECTED, { kind: "node", id: nodeId }, {
    author: {
      principal: `node/${nodeId}`,
      principalType: PrincipalType.AGENT,
      role: "pact-service-agent",
    },
    message: "drift via replica",
  });
}

Deno.test({
  name:
    "mTLS: an agent's write through a read replica lands as the node; forged forwarding headers are refused",
  ignore: !etcdAvailable(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pact-mtls-forward-" });
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
      const adminToken = await member.token();
      const env = {
        PACT_ENDPOINT: `https://localhost:${member.grpcAddress.split(":")[1]}`,
        PACT_TOKEN: adminToken,
        GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: site.certFile,
      };
      for (const [node, uuid] of [["n6", UUID], ["n7", UUID.replace(/6$/, "7")]]) {
        const out = await runPact(["enroll", node!, "--hardware-id", uuid!], env);
        assert.equal(out.code, 0, out.stderr);
      }
      const identity = new AgentIdentity({
        endpoints: [member.grpcAddress],
        caBundlePem: site.ca.certPem,
        hardware: await readHardwareIdentity(
          await writeFakeSys(`${dir}/sys`, { uuid: UUID, mac: "52:54:00:aa:00:06", serial: "S6" }),
        ),
      });
      const held = await identity.start();
      assert.equal(held.nodeId, "n6");

      // The agent writes through the replica with its certificate only.
      const viaReplica = new JournalClient({
        endpoint: `https://${replica.grpcAddress}`,
        token: "",
        timeoutSeconds: 15,
        credentials: identity.credentials(),
        channelOptions: identity.channelOptions(),
      });
      let sequence: number | undefined;
      let lastError = "";
      // The replica may need a moment to tail the activation.
      for (let i = 0; i < 40 && sequence === undefined; i++) {
        try {
          sequence = (await viaReplica.appendEntry({ entry: drift("n6") })).sequence;
        } catch (err) {
          lastError = (err as Error).message;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      viaReplica.close();
      assert.notEqual(sequence, undefined, `write via the replica failed: ${lastError}`);
      const log = await runPact(["log", "--json", "-n", "50"], env);
      assert.equal(log.code, 0, log.stderr);
      const landed = (JSON.parse(log.stdout) as {
        sequence: number;
        type: string;
        scope: string;
        author: { principal: string; role: string };
      }[]).find((e) => e.sequence === sequence);
      assert.ok(landed, `entry ${sequence} not in the member's log`);
      assert.equal(landed.type, "DRIFT_DETECTED");
      assert.equal(landed.scope, "node:n6");
      assert.equal(landed.author.principal, "node/n6");

      const forged = async (client: JournalClient, nodeId: string) => {
        try {
          await client.appendEntry({ entry: drift(nodeId) });
          return "accepted";
        } catch (err) {
          assert.ok(isPactError(err), String(err));
          return `${err.code}: ${err.message}`;
        } finally {
          client.close();
        }
      };
      const headers = (nodeId: string) => ({
        "pact-forwarded-node": nodeId,
        "pact-forwarded-serial": held.serial.toLowerCase(),
        "pact-forwarded-source": "journal-ca",
      });
      // An admin token with forwarding headers, straight to the member.
      const withToken = await forged(
        new JournalClient({
          endpoint: `https://${member.grpcAddress}`,
          token: adminToken,
          timeoutSeconds: 10,
          credentials: tlsCredentials(site.ca.certPem),
          channelOptions: NAME,
          headers: headers("n7"),
        }),
        "n7",
      );
      assert.match(withToken, /^UNAUTHENTICATED: .*accepted only from a journal/);
      // A node's own certificate claiming to forward for another node.
      const withNodeCert = await forged(
        new JournalClient({
          endpoint: `https://${member.grpcAddress}`,
          token: "",
          timeoutSeconds: 10,
          credentials: identity.credentials(),
          channelOptions: identity.channelOptions(),
          headers: headers("n7"),
        }),
        "n7",
      );
      assert.match(withNodeCert, /^UNAUTHENTICATED: .*from a journal of domain default only/);
      // The same through the replica: the replica forwards the verified node, not the header.
      const throughReplica = await forged(
        new JournalClient({
          endpoint: `https://${replica.grpcAddress}`,
          token: "",
          timeoutSeconds: 10,
          credentials: identity.credentials(),
          channelOptions: identity.channelOptions(),
          headers: headers("n7"),
        }),
        "n7",
      );
      assert.match(throughReplica, /^(UNAUTHENTICATED|PERMISSION_DENIED): /);
      assert.doesNotMatch(throughReplica, /accepted$/);
    } finally {
      await quorum.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
