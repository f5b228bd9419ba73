/**
 * Node enrollment with real processes: a pact-journal, the real `pact`
 * CLI for the admin side, and an enrolling client (fresh key + CSR) for
 * the node side. Covers the happy path, every refusal, the CA key staying
 * out of every read path, the rate limit and a site CA from setup-ca.sh.
 */
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { x509 } from "../shared/crypto/x509.ts";
import { EntryType } from "../shared/proto/gen/pact/config/config.ts";
import { runPact } from "./harness/cli_process.ts";
import { EnrollingClient, hardware, makeCsr, type Refusal } from "./harness/enrolling_client.ts";
import { JournalProcess } from "./harness/journal_process.ts";
import { ROOT } from "./harness/paths.ts";

const MAC1 = "52:54:00:00:00:01";
const MAC2 = "52:54:00:00:00:02";
const UUID3 = "4c4c4544-0042-3510-8052-b4c04f564433";

async function refusal(promise: Promise<unknown>): Promise<Refusal> {
  try {
    await promise;
  } catch (err) {
    return err as Refusal;
  }
  throw new Error("expected the call to be refused");
}

async function adminEnv(journal: JournalProcess): Promise<Record<string, string>> {
  return { PACT_ENDPOINT: journal.endpoint, PACT_TOKEN: await journal.token() };
}

async function metric(journal: JournalProcess, name: string): Promise<string> {
  const text = await (await fetch(`${journal.httpUrl}/metrics`)).text();
  return text.split("\n").filter((l) => l.startsWith(name)).join("\n");
}

Deno.test("enrollment: register, enroll, renew, decommission, every refusal journaled", async (t) => {
  const journal = await JournalProcess.start({
    env: { PACT_ENROLLMENT_CERT_LIFETIME_SECONDS: "7200" },
  });
  const node = new EnrollingClient(journal.grpcAddress);
  try {
    const env = await adminEnv(journal);
    let ca: x509.X509Certificate | undefined;
    let serial = "";

    await t.step("pact enroll registers n1 and n2; pact node list shows them", async () => {
      const one = await runPact(["enroll", "n1", "--hardware-id", MAC1, "--vcluster", "ml"], env);
      assert.equal(one.code, 0, one.stderr);
      assert.match(one.stdout, /Registered n1 \(seq:\d+\) in vCluster ml/);
      const two = await runPact(
        ["enroll", "n2", "--hardware-id", MAC2, "--bmc-serial", "SN2", "--json"],
        env,
      );
      assert.equal(two.code, 0, two.stderr);
      assert.equal(JSON.parse(two.stdout).state, "registered");
      const list = await runPact(["node", "list", "--json"], env);
      const nodes = JSON.parse(list.stdout);
      assert.deepEqual(nodes.map((n: { node_id: string; state: string }) => [n.node_id, n.state]), [
        ["n1", "registered"],
        ["n2", "registered"],
      ]);
    });

    await t.step(
      "registration refusals: same node twice, hardware of another node, bad id",
      async () => {
        const again = await runPact(["enroll", "n1", "--hardware-id", "52:54:00:00:00:09"], env);
        assert.equal(again.code, 1);
        assert.match(again.stderr, /Node n1 is already registered \(registered\)/);
        const stolen = await runPact(["enroll", "n9", "--hardware-id", MAC1], env);
        assert.equal(stolen.code, 1);
        assert.match(
          stolen.stderr,
          /Hardware mac:52:54:00:00:00:01 is already registered to node n1/,
        );
        const bad = await runPact(["enroll", "n9", "--hardware-id", "not-a-mac"], env);
        assert.equal(bad.code, 1);
        assert.equal(bad.stderr.trim().split("\n").length, 1);
        assert.match(bad.stderr, /Invalid hardware id "not-a-mac"/);
        const viewer = await runPact(["enroll", "n9", "--hardware-id", UUID3], {
          ...env,
          PACT_TOKEN: await journal.token("pact-viewer-ml", "v@example.org"),
        });
        assert.equal(viewer.code, 2, viewer.stderr);
      },
    );

    await t.step(
      "n1 enrolls: certificate chains to the CA, node id in subject and SAN",
      async () => {
        const { der } = await makeCsr("n1");
        const response = await node.enroll(hardware({ macAddress: MAC1.toUpperCase() }), der);
        assert.equal(response.nodeId, "n1");
        assert.equal(response.vclusterId, "ml");
        assert.equal(response.domainId, "default");
        ca = new x509.X509Certificate(response.caChainPem);
        const cert = new x509.X509Certificate(response.certPem);
        assert.ok(await cert.verify({ publicKey: ca.publicKey, signatureOnly: true }));
        assert.equal(cert.issuer, ca.subject);
        assert.equal(cert.subject, "CN=pact-service-agent/n1@default");
        const san = cert.getExtension(x509.SubjectAlternativeNameExtension)!;
        assert.deepEqual(san.names.items.map((n) => [n.type, n.value]), [
          ["dns", "n1"],
          ["url", "spiffe://default/pact-agent/n1"],
        ]);
        assert.equal(cert.serialNumber, response.certSerial);
        const lifetimeMs = cert.notAfter.getTime() - Date.now();
        assert.ok(lifetimeMs > 7_000_000 && lifetimeMs <= 7_200_000, `lifetime ${lifetimeMs}`);
        serial = response.certSerial;
        const inspect = JSON.parse(
          (await runPact(["node", "inspect", "n1", "--json"], env)).stdout,
        );
        assert.equal(inspect.state, "active");
        assert.equal(inspect.cert_serial, serial);
      },
    );

    await t.step("GetCaBundle (pact's CA) matches the chain Enroll returned", async () => {
      const { EnrollmentClient } = await import("../cli/client/enrollment_client.ts");
      const client = new EnrollmentClient({
        endpoint: journal.endpoint,
        token: await journal.token("pact-viewer-ml", "v@example.org"),
        timeoutSeconds: 10,
      });
      try {
        const bundle = await client.getCaBundle();
        assert.equal(new x509.X509Certificate(bundle.caPem).serialNumber, ca!.serialNumber);
        assert.match(bundle.fingerprintSha256, /^[0-9a-f]{64}$/);
      } finally {
        client.close();
      }
    });

    await t.step(
      "Enroll refusals: active, unknown, mismatch, malformed, oversized, key type, CSR for another node",
      async () => {
        const { der } = await makeCsr();
        const active = await refusal(node.enroll(hardware({ macAddress: MAC1 }), der));
        assert.equal(active.rule, "ALREADY_ACTIVE");
        assert.equal(active.code, status.FAILED_PRECONDITION);
        assert.match(active.details, /Node n1 is already active/);
        const unknown = await refusal(
          node.enroll(hardware({ macAddress: "52:54:00:ff:ff:ff" }), der),
        );
        assert.equal(unknown.rule, "NODE_NOT_ENROLLED");
        assert.equal(unknown.code, status.NOT_FOUND);
        const mismatch = await refusal(
          node.enroll(hardware({ macAddress: MAC2, bmcSerial: "WRONG" }), der),
        );
        assert.equal(mismatch.rule, "HARDWARE_MISMATCH");
        assert.match(mismatch.details, /bmc_serial differs/);
        const malformed = await refusal(
          node.enroll(hardware({ macAddress: MAC2, bmcSerial: "SN2" }), new Uint8Array([48, 3, 1])),
        );
        assert.equal(malformed.rule, "CSR_INVALID");
        assert.match(malformed.details, /not a DER-encoded PKCS#10 request/);
        const oversized = await refusal(
          node.enroll(hardware({ macAddress: MAC2, bmcSerial: "SN2" }), new Uint8Array(5000)),
        );
        assert.equal(oversized.rule, "CSR_TOO_LARGE");
        const rsaKeys = await crypto.subtle.generateKey(
          {
            name: "RSASSA-PKCS1-v1_5",
            modulusLength: 2048,
            publicExponent: new Uint8Array([1, 0, 1]),
            hash: "SHA-256",
          },
          true,
          ["sign", "verify"],
        ) as CryptoKeyPair;
        const rsaCsr = await x509.Pkcs10CertificateRequestGenerator.create({
          keys: rsaKeys,
          signingAlgorithm: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
        });
        const rsa = await refusal(
          node.enroll(
            hardware({ macAddress: MAC2, bmcSerial: "SN2" }),
            new Uint8Array(rsaCsr.rawData),
          ),
        );
        assert.equal(rsa.rule, "CSR_KEY_UNSUPPORTED");
        const tampered = new Uint8Array(der);
        tampered[tampered.length - 5]! ^= 0xff;
        const badSignature = await refusal(
          node.enroll(hardware({ macAddress: MAC2, bmcSerial: "SN2" }), tampered),
        );
        assert.ok(["CSR_INVALID"].includes(badSignature.rule!), badSignature.details);
        const other = await refusal(
          node.enroll(hardware({ macAddress: MAC2, bmcSerial: "SN2" }), (await makeCsr("n1")).der),
        );
        assert.equal(other.rule, "CSR_NODE_MISMATCH");
        const refused = await runPact(["log", "--json", "-n", "50"], env);
        const entries = JSON.parse(refused.stdout) as {
          type: string;
          metadata?: { rule: string };
        }[];
        const rules = entries.filter((e) => e.type === "ENROLLMENT_REFUSED").map((e) =>
          e.metadata?.rule
        );
        for (
          const rule of [
            "ALREADY_ACTIVE",
            "NODE_NOT_ENROLLED",
            "HARDWARE_MISMATCH",
            "CSR_INVALID",
            "CSR_TOO_LARGE",
            "CSR_KEY_UNSUPPORTED",
            "CSR_NODE_MISMATCH",
          ]
        ) assert.ok(rules.includes(rule), `${rule} journaled: ${rules.join(",")}`);
        assert.match(
          await metric(
            journal,
            'pact_enrollment_requests_total{rpc="Enroll",outcome="ALREADY_ACTIVE"}',
          ),
          / 1$/,
        );
      },
    );

    await t.step("two concurrent enrollments of n2: exactly one certificate", async () => {
      const id = hardware({ macAddress: MAC2, bmcSerial: "SN2" });
      const results = await Promise.allSettled([
        node.enroll(id, (await makeCsr()).der),
        node.enroll(id, (await makeCsr()).der),
        node.enroll(id, (await makeCsr()).der),
      ]);
      const ok = results.filter((r) => r.status === "fulfilled");
      assert.equal(ok.length, 1);
      for (const r of results.filter((r) => r.status === "rejected")) {
        assert.equal(((r as PromiseRejectedResult).reason as Refusal).rule, "ALREADY_ACTIVE");
      }
    });

    await t.step(
      "renewal: the node's current serial and a new CSR give a new certificate",
      async () => {
        const agentToken = await journal.token("pact-service-agent", "n1", "agent");
        const stale = await refusal(node.renew(agentToken, "n1", "1234", (await makeCsr()).der));
        assert.equal(stale.rule, "SERIAL_MISMATCH");
        const renewed = await node.renew(agentToken, "n1", serial, (await makeCsr()).der);
        assert.notEqual(renewed.certSerial, serial);
        const cert = new x509.X509Certificate(renewed.certPem);
        assert.ok(await cert.verify({ publicKey: ca!.publicKey, signatureOnly: true }));
        serial = renewed.certSerial;
        const viewer = await refusal(
          node.renew(
            await journal.token("pact-viewer-ml", "v@x"),
            "n1",
            serial,
            (await makeCsr()).der,
          ),
        );
        assert.equal(viewer.code, status.PERMISSION_DENIED);
      },
    );

    await t.step("assign, move, unassign with pact node", async () => {
      const moved = await runPact(["node", "move", "n1", "--to-vcluster", "sim", "--json"], env);
      assert.equal(moved.code, 0, moved.stderr);
      assert.deepEqual(
        [JSON.parse(moved.stdout).from_vcluster, JSON.parse(moved.stdout).to_vcluster],
        ["ml", "sim"],
      );
      const unassigned = await runPact(["node", "unassign", "n1"], env);
      assert.match(unassigned.stdout, /Unassigned n1 \(seq:\d+\): maintenance mode/);
      const assigned = await runPact(["node", "assign", "n1", "--vcluster", "ml"], env);
      assert.match(assigned.stdout, /Assigned n1 to ml/);
      const mlViewer = await runPact(["node", "list", "--json"], {
        ...env,
        PACT_TOKEN: await journal.token("pact-viewer-ml", "v@example.org"),
      });
      assert.deepEqual(JSON.parse(mlViewer.stdout).map((n: { node_id: string }) => n.node_id), [
        "n1",
      ]);
      const missing = await runPact(["node", "assign", "nope", "--vcluster", "ml"], env);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /Node nope is not registered/);
    });

    await t.step(
      "decommission revokes: renewal and enrollment afterwards are refused",
      async () => {
        const done = await runPact(["node", "decommission", "n1", "--json"], env);
        assert.equal(done.code, 0, done.stderr);
        const result = JSON.parse(done.stdout);
        assert.deepEqual([result.state, result.revoked_serial], ["revoked", serial]);
        const agentToken = await journal.token("pact-service-agent", "n1", "agent");
        const renew = await refusal(node.renew(agentToken, "n1", serial, (await makeCsr()).der));
        assert.equal(renew.rule, "NODE_REVOKED");
        assert.equal(renew.code, status.PERMISSION_DENIED);
        const enroll = await refusal(
          node.enroll(hardware({ macAddress: MAC1 }), (await makeCsr()).der),
        );
        assert.equal(enroll.rule, "NODE_REVOKED");
        const twice = await runPact(["node", "decommission", "n1"], env);
        assert.equal(twice.code, 2);
        assert.match(twice.stderr, /decommissioned \(revoked\)/);
        const list = await runPact(["node", "list", "--state", "revoked", "--json"], env);
        assert.deepEqual(JSON.parse(list.stdout).map((n: { node_id: string }) => n.node_id), [
          "n1",
        ]);
      },
    );

    await t.step("enrollment entries cannot be appended by hand", async () => {
      const { JournalClient } = await import("../cli/client/journal_client.ts");
      const { entry } = await import("../shared/testing/entries.ts");
      const client = new JournalClient({
        endpoint: journal.endpoint,
        token: await journal.token(),
        timeoutSeconds: 10,
      });
      try {
        await assert.rejects(
          client.appendEntry({
            entry: entry(EntryType.CA_ROTATED, { kind: "global" }, {
              payload: {
                $case: "ca",
                value: {
                  certPem: "x",
                  keyPkcs8: new Uint8Array([1]),
                  fingerprintSha256: "f",
                  previousFingerprintSha256: "",
                  source: "ephemeral",
                  notAfter: undefined,
                },
              },
            }),
            expectedScopeVersion: undefined,
          }),
          /written by the EnrollmentService itself/,
        );
      } finally {
        client.close();
      }
    });

    await t.step(
      "the CA private key is in no read path: pact log --json, ListEntries, metrics, journal log",
      async () => {
        const key = await caKeyOf(journal);
        assert.ok(key.length > 100, "the ephemeral CA key is in the store (shared with replicas)");
        const logJson = (await runPact(["log", "--json", "-n", "1000"], env)).stdout;
        assert.match(logJson, /CA_ROTATED/);
        const caEntry = JSON.parse(logJson).find((e: { type: string }) => e.type === "CA_ROTATED");
        assert.ok(caEntry, "CA_ROTATED listed");
        const keyB64 = btoa(String.fromCharCode(...key));
        const keyHex = [...key].map((b) => b.toString(16).padStart(2, "0")).join("");
        const text = (await runPact(["log", "-n", "1000"], env)).stdout;
        const metrics = await (await fetch(`${journal.httpUrl}/metrics`)).text();
        for (
          const [where, haystack] of [
            ["pact log --json", logJson],
            ["pact log", text],
            ["metrics", metrics],
            ["journal log", journal.log],
          ] as const
        ) {
          assert.ok(!haystack.includes(keyB64), `key (base64) in ${where}`);
          assert.ok(!haystack.includes(keyHex), `key (hex) in ${where}`);
          assert.ok(!haystack.includes("PRIVATE KEY"), `PEM key in ${where}`);
        }
      },
    );
  } finally {
    node.close();
    await journal.dispose();
  }
});

/** The ephemeral CA's PKCS#8 key, read from the journal's store (SQLite) directly. */
async function caKeyOf(journal: JournalProcess): Promise<Uint8Array> {
  const { DatabaseSync } = await import("node:sqlite");
  const { ConfigEntry } = await import("../shared/proto/gen/pact/config/config.ts");
  const db = new DatabaseSync(`${journal.dataDir}/journal.db`, { readOnly: true });
  try {
    const rows = db.prepare("SELECT data FROM entries WHERE entry_type = ?").all(
      EntryType.CA_ROTATED,
    ) as { data: Uint8Array }[];
    const entry = ConfigEntry.decode(new Uint8Array(rows[0]!.data));
    assert.equal(entry.payload?.$case, "ca");
    return entry.payload?.$case === "ca" ? entry.payload.value.keyPkcs8 : new Uint8Array();
  } finally {
    db.close();
  }
}

Deno.test("enrollment: Enroll is rate-limited and refusals are counted; pact node import", async () => {
  const journal = await JournalProcess.start({
    env: { PACT_ENROLLMENT_RATE_LIMIT_PER_MINUTE: "3" },
  });
  const node = new EnrollingClient(journal.grpcAddress);
  try {
    const { der } = await makeCsr();
    const codes: (string | undefined)[] = [];
    for (let i = 0; i < 5; i++) {
      codes.push((await refusal(node.enroll(hardware({ macAddress: MAC1 }), der))).rule);
    }
    assert.deepEqual(codes, [
      "NODE_NOT_ENROLLED",
      "NODE_NOT_ENROLLED",
      "NODE_NOT_ENROLLED",
      "RATE_LIMITED",
      "RATE_LIMITED",
    ]);
    assert.match(await metric(journal, "pact_enrollment_rate_limited_total"), / 2$/);
    const file = `${journal.dataDir}/rack.csv`;
    await Deno.writeTextFile(
      file,
      `node_id,hardware_id,vcluster\nr1,52:54:00:00:10:01,ml\nr2,52:54:00:00:10:02,\nr3,${MAC1},\n`,
    );
    const env = await adminEnv(journal);
    const first = await runPact(["node", "import", file, "--json"], env);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(JSON.parse(first.stdout).succeeded, 3);
    const again = await runPact(["node", "import", file], env);
    assert.equal(again.code, 1, "re-importing reports each node as already registered");
    assert.match(again.stdout, /Imported 0 nodes, 3 failed/);
    assert.match(again.stdout, /r1: FAILED: Node r1 is already registered/);
  } finally {
    node.close();
    await journal.dispose();
  }
});

Deno.test("enrollment: a site CA from setup-ca.sh signs, survives a restart, and is journaled without a key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pact-test-ca-" });
  try {
    const setup = await new Deno.Command(`${ROOT}/deploy/setup-ca.sh`, {
      args: ["-d", dir, "-n", "pact-ca"],
    }).output();
    assert.equal(setup.code, 0, new TextDecoder().decode(setup.stderr));
    const env = { PACT_CA_CERT: `${dir}/ca.crt`, PACT_CA_KEY: `${dir}/ca.key` };
    const journal = await JournalProcess.start({ env });
    const node = new EnrollingClient(journal.grpcAddress);
    try {
      const site = new x509.X509Certificate(await Deno.readTextFile(`${dir}/ca.crt`));
      await runPact(["enroll", "n3", "--hardware-id", UUID3], await adminEnv(journal));
      const response = await node.enroll(hardware({ smbiosUuid: UUID3 }), (await makeCsr()).der);
      const cert = new x509.X509Certificate(response.certPem);
      assert.ok(await cert.verify({ publicKey: site.publicKey, signatureOnly: true }));
      assert.equal(cert.issuer, "CN=pact-ca");
      const logJson = (await runPact(["log", "--json"], await adminEnv(journal))).stdout;
      const rotations = JSON.parse(logJson).filter((e: { type: string }) =>
        e.type === "CA_ROTATED"
      );
      assert.equal(rotations.length, 1);
    } finally {
      node.close();
      await journal.stop();
    }
    const again = await JournalProcess.start({ env, dataDir: journal.dataDir });
    try {
      const logJson = (await runPact(["log", "--json"], await adminEnv(again))).stdout;
      const rotations = JSON.parse(logJson).filter((e: { type: string }) =>
        e.type === "CA_ROTATED"
      );
      assert.equal(rotations.length, 1, "the same site CA is not journaled again");
    } finally {
      await again.dispose();
      await Deno.remove(journal.dataDir, { recursive: true });
    }
    const bad = await JournalProcess.start({ env: { PACT_CA_CERT: `${dir}/ca.crt` } }).then(
      (j) => j.dispose().then(() => "started"),
      (err: Error) => err.message,
    );
    assert.match(bad, /Incomplete site CA: ca_key_file \(PACT_CA_KEY\) is missing/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
