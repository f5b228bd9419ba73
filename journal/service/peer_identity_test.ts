import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { PeerCertificate } from "node:tls";
import { ManualClock } from "../../shared/clock/clock.ts";
import { generateP256KeyPair, x509 } from "../../shared/crypto/x509.ts";
import { emptyHardwareIdentity } from "../../shared/domain/hardware_identity.ts";
import { toProtoScope } from "../../shared/domain/scope.ts";
import type { PactError } from "../../shared/errors/mod.ts";
import {
  ConfigEntry,
  EntryType,
  PrincipalType,
} from "../../shared/proto/gen/pact/config/config.ts";
import { CertificateAuthority, type IssuedCert } from "../ca/ca.ts";
import { Journal } from "../core/journal.ts";
import { SqliteStore } from "../store/sqlite_store.ts";
import { PeerVerifier } from "./peer_identity.ts";

const AUTHOR = { principal: "test", principalType: PrincipalType.SYSTEM, role: "pact-journal" };
const HOUR_MS = 3_600_000;

async function issue(ca: CertificateAuthority, nodeId: string, nowMs: number) {
  const keys = await generateP256KeyPair();
  const publicKey = new x509.PublicKey(await crypto.subtle.exportKey("spki", keys.publicKey));
  return await ca.issue({ nodeId, domainId: "default", publicKey, nowMs, lifetimeMs: HOUR_MS });
}

function peer(cert: IssuedCert): PeerCertificate {
  const der = new x509.X509Certificate(cert.certPem).rawData;
  return { raw: Buffer.from(der) } as unknown as PeerCertificate;
}

type PartialPayload = NonNullable<Parameters<typeof ConfigEntry.fromPartial>[0]>["payload"];

function append(journal: Journal, entryType: EntryType, payload: PartialPayload) {
  return journal.append({
    entry: ConfigEntry.fromPartial({
      entryType,
      scope: toProtoScope({ kind: "node", id: "n1" }),
      author: AUTHOR,
      payload,
    }),
  });
}

async function withNode(
  body: (ctx: {
    journal: Journal;
    clock: ManualClock;
    ca: CertificateAuthority;
    cert: IssuedCert;
    verifier: PeerVerifier;
  }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pact-peer-test-" });
  const clock = new ManualClock(Date.now());
  const journal = await Journal.open({ store: new SqliteStore(`${dir}/journal.db`), clock });
  try {
    const ca = await CertificateAuthority.generate("default", clock.now(), 30 * 24 * HOUR_MS);
    await journal.append({
      entry: ConfigEntry.fromPartial({
        entryType: EntryType.CA_ROTATED,
        scope: toProtoScope({ kind: "global" }),
        author: AUTHOR,
        payload: {
          $case: "ca",
          value: {
            certPem: ca.certPem,
            keyPkcs8: new Uint8Array(),
            fingerprintSha256: ca.fingerprint,
            previousFingerprintSha256: "",
            source: "site",
            notAfter: new Date(ca.notAfterMs),
          },
        },
      }),
    });
    await append(journal, EntryType.NODE_REGISTERED, {
      $case: "enrollment",
      value: {
        nodeId: "n1",
        domainId: "default",
        hardware: { ...emptyHardwareIdentity(), macAddress: "52:54:00:00:00:01" },
      },
    });
    const cert = await issue(ca, "n1", clock.now());
    await append(journal, EntryType.NODE_ACTIVATED, {
      $case: "certificate",
      value: {
        nodeId: "n1",
        serial: cert.serial,
        notAfter: new Date(cert.notAfterMs),
        caFingerprint: ca.fingerprint,
      },
    });
    const verifier = new PeerVerifier(journal, "default", clock);
    await body({ journal, clock, ca, cert, verifier });
  } finally {
    await journal.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("PeerVerifier.identify() names the node of its current certificate", async () => {
  await withNode(async ({ cert, verifier }) => {
    const machine = await verifier.identify(peer(cert));
    assert.equal(machine.nodeId, "n1");
    assert.equal(machine.serial, cert.serial);
    // Certificates keep whole seconds.
    assert.equal(machine.notAfterMs, Math.floor(cert.notAfterMs / 1000) * 1000);
  });
});

Deno.test("PeerVerifier.identify() refuses another CA, an expired, an unregistered and a superseded certificate", async () => {
  await withNode(async ({ clock, ca, verifier }) => {
    const other = await CertificateAuthority.generate("default", clock.now(), HOUR_MS * 24);
    await assert.rejects(
      async () => verifier.identify(peer(await issue(other, "n1", clock.now()))),
      /not signed by the journal's current CA/,
    );
    await assert.rejects(
      async () => verifier.identify(peer(await issue(ca, "n9", clock.now()))),
      /node n9 is not registered/,
    );
    await assert.rejects(
      async () => verifier.identify(peer(await issue(ca, "n1", clock.now()))),
      /was superseded by/,
    );
    clock.advance(2 * HOUR_MS);
    const stale = await issue(ca, "n1", clock.now() - 2 * HOUR_MS);
    await assert.rejects(() => verifier.identify(peer(stale)), /outside its validity/);
  });
});

Deno.test("PeerVerifier refuses a decommissioned node and ends its tracked calls", async () => {
  await withNode(async ({ journal, cert, verifier }) => {
    const machine = await verifier.identify(peer(cert));
    const revoked = new Promise<PactError>((resolve) => verifier.track(machine, resolve));
    await append(journal, EntryType.NODE_DECOMMISSIONED, {
      $case: "enrollment",
      value: { nodeId: "n1" },
    });
    // The sweep's timer is unref'd (a server keeps the process alive); this test's timer does.
    let keepAlive: ReturnType<typeof setTimeout> | undefined;
    const error = await Promise.race([
      revoked,
      new Promise<never>((_, reject) => {
        keepAlive = setTimeout(() => reject(new Error("not ended within 5 s")), 5_000);
      }),
    ]).finally(() => clearTimeout(keepAlive));
    assert.equal(error.code, "UNAUTHENTICATED");
    assert.match(error.message, /was revoked \(decommissioned\)/);
    await assert.rejects(() => verifier.identify(peer(cert)), /is revoked/);
  });
});
