/**
 * Machine identity end to end with real processes: a pact-journal serving
 * gRPC over TLS with its site CA, the admin side through the real `pact`
 * CLI, and the agent identity module (hardware from a fake /sys, key in
 * memory or under cert_dir, Enroll over server-TLS, mTLS afterwards,
 * renewal under a test clock, re-enrollment after a CA change). Negative
 * cases: another CA, another node's certificate, no client certificate,
 * a token instead of a certificate, and a revoked node.
 */
import assert from "node:assert/strict";
import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import {
  AgentIdentity,
  type EnrollmentCallError,
  readHardwareIdentity,
} from "../agent/identity/mod.ts";
import { renewCall } from "../agent/identity/enrollment_calls.ts";
import { makeCsr } from "./harness/enrolling_client.ts";
import { ManualClock } from "../shared/clock/clock.ts";
import { x509 } from "../shared/crypto/x509.ts";
import {
  BootConfigServiceClient,
  type ConfigUpdate,
} from "../shared/proto/gen/pact/stream/stream.ts";
import { runPact } from "./harness/cli_process.ts";
import { JournalProcess } from "./harness/journal_process.ts";
import {
  forgedClientCert,
  streamBoot,
  tlsCredentials,
  writeFakeSys,
  writeSiteCa,
} from "./harness/mtls_fixtures.ts";

const UUID1 = "4c4c4544-0042-3510-8052-b4c04f564431";
const MAC1 = "52:54:00:aa:00:01";
const UUID2 = "4c4c4544-0042-3510-8052-b4c04f564432";
const MAC2 = "52:54:00:aa:00:02";
const NAME = { "grpc.ssl_target_name_override": "pact-journal" };

function tlsJournal(caCertFile: string, caKeyFile: string, dataDir?: string) {
  return JournalProcess.start({
    ...(dataDir ? { dataDir } : {}),
    env: {
      PACT_JOURNAL_GRPC_TLS: "true",
      PACT_CA_CERT: caCertFile,
      PACT_CA_KEY: caKeyFile,
      PACT_ENROLLMENT_CERT_LIFETIME_SECONDS: "3600",
    },
  });
}

async function admin(journal: JournalProcess, caFile: string) {
  return {
    PACT_ENDPOINT: `https://localhost:${journal.grpcAddress.split(":")[1]}`,
    PACT_TOKEN: await journal.token(),
    GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: caFile,
  };
}

Deno.test("mTLS: register, enroll, boot over mTLS, renew, refusals, decommission", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "pact-mtls-" });
  const site = await writeSiteCa(dir, "site");
  const other = await writeSiteCa(dir, "other");
  const journal = await tlsJournal(site.certFile, site.keyFile);
  const clock = new ManualClock(Date.now());
  try {
    const env = await admin(journal, site.certFile);
    const sys = await writeFakeSys(`${dir}/sys`, { uuid: UUID1, mac: MAC1, serial: "SN-1" });
    let identity: AgentIdentity | undefined;

    await t.step("the CLI registers n1 over TLS (trusting the site CA)", async () => {
      const out = await runPact(
        ["enroll", "n1", "--hardware-id", UUID1, "--bmc-serial", "SN-1"],
        env,
      );
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /Registered n1/);
      const plain = await runPact(["node", "list"], { ...env, PACT_ENDPOINT: journal.endpoint });
      assert.equal(plain.code, 5, "a plaintext client cannot talk to a TLS port");
    });

    await t.step(
      "the agent reads its hardware from /sys and enrolls with only the CA bundle",
      async () => {
        const hardware = await readHardwareIdentity(sys);
        assert.equal(hardware.smbiosUuid, UUID1);
        assert.deepEqual(hardware.macAddresses, [MAC1]);
        assert.equal(hardware.bmcSerial, "SN-1");
        identity = new AgentIdentity({
          endpoints: [journal.grpcAddress],
          caBundlePem: site.ca.certPem,
          hardware,
          certDir: `${dir}/certs`,
          clock,
        });
        const held = await identity.start();
        assert.equal(held.nodeId, "n1");
        assert.equal(held.caFingerprint, site.ca.fingerprint);
        const cert = new x509.X509Certificate(held.certPem);
        assert.equal(cert.subject, "CN=pact-service-agent/n1@default");
        const keyMode = (await Deno.stat(`${dir}/certs/key.pem`)).mode! & 0o777;
        assert.equal(keyMode, 0o600);
        const inspect = JSON.parse(
          (await runPact(["node", "inspect", "n1", "--json"], env)).stdout,
        );
        assert.equal(inspect.state, "active");
        assert.equal(inspect.cert_serial, held.serial);
      },
    );

    await t.step("the boot config streams over mTLS with the node's certificate", async () => {
      const boot = await streamBoot(
        journal.grpcAddress,
        identity!.credentials(),
        identity!.channelOptions(),
        { nodeId: "n1" },
      );
      assert.ok(boot.ok, boot.details);
      assert.equal(boot.messages.at(-1)?.chunk?.$case, "complete");
    });

    await t.step(
      "refused: another node's id, no client certificate, a token, another CA",
      async () => {
        const otherNode = await streamBoot(
          journal.grpcAddress,
          identity!.credentials(),
          NAME,
          { nodeId: "n2" },
        );
        assert.equal(otherNode.code, status.PERMISSION_DENIED);
        assert.match(otherNode.details, /client certificate belongs to node n1/);

        const { der } = await makeCsr("n2");
        const renewOther = await renewCall(
          {
            address: journal.grpcAddress,
            credentials: identity!.credentials(),
            options: NAME,
            timeoutMs: 10_000,
          },
          "n2",
          "",
          der,
        ).then(() => undefined, (err: EnrollmentCallError) => err);
        assert.equal(renewOther?.code, "PERMISSION_DENIED", "RenewCert for another node");

        const noCert = await streamBoot(
          journal.grpcAddress,
          tlsCredentials(site.ca.certPem),
          NAME,
          {
            nodeId: "n1",
          },
        );
        assert.equal(noCert.code, status.UNAUTHENTICATED);
        assert.equal(noCert.rule, "CLIENT_CERT_REFUSED");

        const agentToken = await journal.token("pact-service-agent", "node/n1", "agent");
        const tokenOnly = await streamBoot(
          journal.grpcAddress,
          tlsCredentials(site.ca.certPem),
          NAME,
          { nodeId: "n1" },
          agentToken,
        );
        assert.equal(tokenOnly.code, status.UNAUTHENTICATED);
        assert.match(tokenOnly.details, /present the node's client certificate/);

        const forged = await forgedClientCert(other.ca, "n1");
        const foreign = await streamBoot(
          journal.grpcAddress,
          tlsCredentials(site.ca.certPem, forged),
          NAME,
          { nodeId: "n1" },
        );
        assert.equal(foreign.ok, false, "a certificate from another CA is refused");
        assert.equal(foreign.code, status.UNAUTHENTICATED);

        const wrongTrust = await streamBoot(
          journal.grpcAddress,
          tlsCredentials(other.ca.certPem, await forgedClientCert(other.ca, "n1")),
          NAME,
          { nodeId: "n1" },
        );
        assert.equal(
          wrongTrust.code,
          status.UNAVAILABLE,
          "the agent refuses a journal its CA did not sign",
        );
      },
    );

    await t.step(
      "renewal at 2/3 of the lifetime keeps an open stream and swaps the certificate",
      async () => {
        const before = identity!.held;
        // An open subscription with the old certificate, to show it survives renewal.
        const client = new BootConfigServiceClient(
          journal.grpcAddress,
          identity!.credentials(),
          identity!.channelOptions(),
        );
        const updates: ConfigUpdate[] = [];
        const stream = client.subscribeConfigUpdates(
          { nodeId: "n1", vclusterId: "", fromSequence: 0, fromHead: true, scope: undefined },
          new Metadata(),
        );
        const ended = new Promise<string>((resolve) => {
          stream.on("data", (u: ConfigUpdate) => updates.push(u));
          stream.on("error", (e: Error) => resolve(e.message));
          stream.on("end", () => resolve("end"));
        });
        try {
          assert.equal(await identity!.maintain(), undefined, "nothing to do before 2/3");
          clock.advance(identity!.renewAtMs + 1 - clock.now());
          assert.equal(await identity!.maintain(), "renewed");
          const after = identity!.held;
          assert.notEqual(after.serial, before.serial);
          // Whole seconds: a renewal within the same second may end at the same time.
          assert.ok(after.notAfterMs >= before.notAfterMs);
          const inspect = JSON.parse(
            (await runPact(["node", "inspect", "n1", "--json"], env)).stdout,
          );
          assert.equal(inspect.cert_serial, after.serial);
          const commit = await runPact(["commit", "-m", "after renewal", "--node", "n1"], env);
          assert.equal(commit.code, 0, commit.stderr);
          const deadline = Date.now() + 10_000;
          while (updates.length === 0 && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 50));
          }
          assert.ok(updates.length > 0, "the stream opened before renewal still delivers");
          const superseded = await streamBoot(
            journal.grpcAddress,
            tlsCredentials(site.ca.certPem, before),
            NAME,
            { nodeId: "n1" },
          );
          assert.equal(
            superseded.code,
            status.UNAUTHENTICATED,
            "new calls need the new certificate",
          );
          assert.match(superseded.details, /superseded/);
          const boot = await streamBoot(
            journal.grpcAddress,
            identity!.credentials(),
            identity!.channelOptions(),
            { nodeId: "n1" },
          );
          assert.ok(boot.ok, `new calls use the renewed certificate: ${boot.details}`);
        } finally {
          stream.cancel();
          await ended;
          client.close();
        }
      },
    );

    await t.step(
      "a restarted agent reuses the stored certificate; a loose key file is refused",
      async () => {
        const again = new AgentIdentity({
          endpoints: [journal.grpcAddress],
          caBundlePem: site.ca.certPem,
          hardware: await readHardwareIdentity(sys),
          certDir: `${dir}/certs`,
          clock,
        });
        assert.equal((await again.start()).serial, identity!.held.serial);
        await Deno.chmod(`${dir}/certs/key.pem`, 0o644);
        await assert.rejects(() => again.start(), /Refusing the agent key .*mode 0644/);
        await Deno.chmod(`${dir}/certs/key.pem`, 0o600);
      },
    );

    await t.step(
      "pact node decommission revokes: open streams end, the next call is refused",
      async () => {
        const client = new BootConfigServiceClient(
          journal.grpcAddress,
          identity!.credentials(),
          identity!.channelOptions(),
        );
        const stream = client.subscribeConfigUpdates(
          { nodeId: "n1", vclusterId: "", fromSequence: 0, fromHead: true, scope: undefined },
          new Metadata(),
        );
        const ended = new Promise<{ code: number; details: string }>((resolve) => {
          stream.on("data", () => {});
          stream.on("error", (e: ServiceError) => resolve({ code: e.code, details: e.details }));
          stream.on("end", () => resolve({ code: -1, details: "ended without an error" }));
        });
        await new Promise((r) => setTimeout(r, 300));
        const out = await runPact(["node", "decommission", "n1"], env);
        assert.equal(out.code, 0, out.stderr);
        const end = await ended;
        client.close();
        assert.equal(end.code, status.UNAUTHENTICATED, end.details);
        assert.match(end.details, /was revoked/);
        const boot = await streamBoot(
          journal.grpcAddress,
          identity!.credentials(),
          identity!.channelOptions(),
          { nodeId: "n1" },
        );
        assert.equal(boot.code, status.UNAUTHENTICATED);
        assert.match(boot.details, /revoked/);
        clock.advance(identity!.renewAtMs + 1 - clock.now());
        assert.equal(await identity!.maintain(), undefined, "renewal of a revoked node fails");
      },
    );
  } finally {
    await journal.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mTLS: after a CA change the agent enrolls again and its old certificate is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pact-mtls-ca-" });
  const first = await writeSiteCa(dir, "first");
  const second = await writeSiteCa(dir, "second");
  const dataDir = `${dir}/data`;
  await Deno.mkdir(dataDir);
  await Deno.writeTextFile(`${dataDir}/journal.toml`, "");
  let journal = await tlsJournal(first.certFile, first.keyFile, dataDir);
  const clock = new ManualClock(Date.now());
  try {
    const out = await runPact(
      ["enroll", "n2", "--hardware-id", MAC2],
      await admin(journal, first.certFile),
    );
    assert.equal(out.code, 0, out.stderr);
    const identity = new AgentIdentity({
      endpoints: [journal.grpcAddress],
      // The image carries both CAs during a rotation.
      caBundlePem: first.ca.certPem + second.ca.certPem,
      hardware: await readHardwareIdentity(
        await writeFakeSys(`${dir}/sys`, { uuid: UUID2, mac: MAC2, serial: "SN-2" }),
      ),
      clock,
      caCheckIntervalMs: 60_000,
    });
    const old = await identity.start();
    assert.equal(old.caFingerprint, first.ca.fingerprint);
    assert.equal(await identity.maintain(), undefined, "same CA: nothing to do");

    const port = Number(journal.grpcAddress.split(":")[1]);
    await journal.stop();
    journal = await JournalProcess.start({
      dataDir,
      grpcPort: port,
      env: {
        PACT_JOURNAL_GRPC_TLS: "true",
        PACT_CA_CERT: second.certFile,
        PACT_CA_KEY: second.keyFile,
      },
    });
    const stale = await streamBoot(
      journal.grpcAddress,
      tlsCredentials(second.ca.certPem, old),
      NAME,
      { nodeId: "n2" },
    );
    assert.equal(stale.code, status.UNAUTHENTICATED, "the old CA's certificate no longer counts");

    assert.equal(await identity.maintain(), undefined, "the next CA check is not due yet");
    clock.advance(60_000);
    assert.equal(await identity.maintain(), "re-enrolled", journal.log);
    assert.equal(identity.held.caFingerprint, second.ca.fingerprint);
    const boot = await streamBoot(
      journal.grpcAddress,
      identity.credentials(),
      identity.channelOptions(),
      { nodeId: "n2" },
    );
    assert.ok(boot.ok, boot.details);
  } finally {
    await journal.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mTLS: a diskless node that rebooted enrolls again once its silence made it Inactive", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pact-mtls-reboot-" });
  const site = await writeSiteCa(dir, "site");
  const journal = await JournalProcess.start({
    env: {
      PACT_JOURNAL_GRPC_TLS: "true",
      PACT_CA_CERT: site.certFile,
      PACT_CA_KEY: site.keyFile,
      PACT_ENROLLMENT_HEARTBEAT_TIMEOUT_SECONDS: "2",
    },
  });
  try {
    const env = await admin(journal, site.certFile);
    const out = await runPact(["enroll", "n4", "--hardware-id", UUID2], env);
    assert.equal(out.code, 0, out.stderr);
    const sys = await writeFakeSys(`${dir}/sys`, { uuid: UUID2, mac: MAC2, serial: "SN-4" });
    const hardware = await readHardwareIdentity(sys);
    // Memory only, as on a diskless node: every boot makes a new key.
    const boot = () =>
      new AgentIdentity({
        endpoints: [journal.grpcAddress],
        caBundlePem: site.ca.certPem,
        hardware,
      });
    const first = boot();
    const firstCert = await first.start();

    // While its subscription is open the node stays Active, and a second boot is refused.
    const client = new BootConfigServiceClient(
      journal.grpcAddress,
      first.credentials(),
      first.channelOptions(),
    );
    const stream = client.subscribeConfigUpdates(
      { nodeId: "n4", vclusterId: "", fromSequence: 0, fromHead: true, scope: undefined },
      new Metadata(),
    );
    const closed = new Promise<void>((resolve) => {
      stream.on("data", () => {});
      stream.on("error", () => resolve());
      stream.on("end", () => resolve());
    });
    await new Promise((r) => setTimeout(r, 3_500));
    const state = async () =>
      JSON.parse((await runPact(["node", "inspect", "n4", "--json"], env)).stdout).state;
    assert.equal(await state(), "active");
    await assert.rejects(() => boot().start(), (err: EnrollmentCallError) => {
      assert.equal(err.rule, "ALREADY_ACTIVE");
      return true;
    });

    // The node reboots: its subscription ends; after the timeout it is Inactive.
    stream.cancel();
    await closed;
    client.close();
    const deadline = Date.now() + 15_000;
    while ((await state()) !== "inactive" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(await state(), "inactive");

    const rebooted = boot();
    const cert = await rebooted.start();
    assert.notEqual(cert.serial, firstCert.serial);
    const ok = await streamBoot(
      journal.grpcAddress,
      rebooted.credentials(),
      rebooted.channelOptions(),
      { nodeId: "n4" },
    );
    assert.ok(ok.ok, ok.details);
    const old = await streamBoot(journal.grpcAddress, first.credentials(), NAME, {
      nodeId: "n4",
    });
    assert.equal(old.code, status.UNAUTHENTICATED, "the pre-reboot certificate is superseded");
  } finally {
    await journal.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
