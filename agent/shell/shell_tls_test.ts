import assert from "node:assert/strict";
import { connect, type TLSSocket } from "node:tls";
import { Buffer } from "node:buffer";
import { CertificateAuthority } from "../../journal/ca/ca.ts";
import { forgedClientCert } from "../../tests/harness/mtls_fixtures.ts";
import type { AgentIdentity, HeldCertificate, IdentityChange } from "../identity/mod.ts";
import { startShellServer } from "./server.ts";
import { shellTls } from "./shell_tls.ts";

/** An enrolled identity whose certificate the test changes by hand. */
function fakeIdentity(held: HeldCertificate) {
  const listeners = new Set<(change: IdentityChange, held: HeldCertificate) => void>();
  let current = held;
  const identity = {
    get held() {
      return current;
    },
    onChange(listener: (change: IdentityChange, held: HeldCertificate) => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  } as unknown as AgentIdentity;
  return {
    identity,
    renew(next: HeldCertificate) {
      current = next;
      for (const listener of listeners) listener("renewed", next);
    },
  };
}

async function heldFor(ca: CertificateAuthority, nodeId: string): Promise<HeldCertificate> {
  const { keyPem, certPem } = await forgedClientCert(ca, nodeId);
  // Only what the shell's TLS reads; the other fields do not matter here.
  return { nodeId, serial: "", certPem, keyPem } as unknown as HeldCertificate;
}

/** A TLS connection to the server; resolves with the socket once the handshake is done. */
function tlsTo(port: number, ca: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: "127.0.0.1",
      port,
      servername: "n1",
      ca: Buffer.from(ca),
      ALPNProtocols: ["h2"],
    }, () => resolve(socket));
    socket.once("error", reject);
  });
}

Deno.test("shellTls() serves plaintext for tls = off and for auto without a certificate", async () => {
  const base = { files: undefined, hostRoot: "/", identity: undefined };
  const off = await shellTls({ ...base, mode: "off" });
  assert.equal(off.kind, "plaintext");
  assert.equal(off.kind === "plaintext" && off.warn, false);
  const auto = await shellTls({ ...base, mode: "auto" });
  assert.equal(auto.kind, "plaintext");
  assert.equal(auto.kind === "plaintext" && auto.warn, true);
  assert.match(auto.kind === "plaintext" ? auto.reason : "", /no certificate/);
});

Deno.test("shellTls() refuses tls = required without a certificate, and unreadable files", async () => {
  const required = await shellTls({
    mode: "required",
    files: undefined,
    hostRoot: "/",
    identity: undefined,
  });
  assert.equal(required.kind, "refused");
  assert.match(required.kind === "refused" ? required.reason : "", /tls = "required" but no cert/);
  const dir = await Deno.makeTempDir({ prefix: "pact-shell-tls-" });
  try {
    await Deno.writeTextFile(`${dir}/cert.pem`, "not a certificate\n");
    await Deno.writeTextFile(`${dir}/key.pem`, "-----BEGIN PRIVATE KEY-----\n");
    const missing = await shellTls({
      mode: "auto",
      files: { cert: "/cert.pem", key: "/missing.pem" },
      hostRoot: dir,
      identity: undefined,
    });
    assert.equal(missing.kind, "refused");
    assert.match(missing.kind === "refused" ? missing.reason : "", /holds no PEM|No such file/);
    await Deno.writeTextFile(`${dir}/cert.pem`, "-----BEGIN CERTIFICATE-----\n");
    const absent = await shellTls({
      mode: "auto",
      files: { cert: "/cert.pem", key: "/missing.pem" },
      hostRoot: dir,
      identity: undefined,
    });
    assert.match(absent.kind === "refused" ? absent.reason : "", /tls_key_path .*missing\.pem/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the shell server serves the enrolled certificate and a renewed one to new connections, keeping open ones", async () => {
  const ca = await CertificateAuthority.generate("default", Date.now(), 86_400_000);
  const first = await heldFor(ca, "n1");
  const second = await heldFor(ca, "n1");
  const { identity, renew } = fakeIdentity(first);
  const tls = await shellTls({ mode: "auto", files: undefined, hostRoot: "/", identity });
  assert.equal(tls.kind, "tls");
  if (tls.kind !== "tls") return;
  const server = await startShellServer({
    listen: { host: "127.0.0.1", port: 0 },
    auth: undefined,
    modules: [],
    tls: tls.credentials,
    log: () => {},
  });
  const sockets: TLSSocket[] = [];
  try {
    assert.equal(server.tls, true);
    // The provider hands the certificate over asynchronously.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const before = await tlsTo(server.address.port, ca.certPem);
    sockets.push(before);
    const firstSerial = before.getPeerCertificate().serialNumber;
    let closed = false;
    before.once("close", () => (closed = true));

    renew(second);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const after = await tlsTo(server.address.port, ca.certPem);
    sockets.push(after);
    const secondSerial = after.getPeerCertificate().serialNumber;
    assert.notEqual(secondSerial, firstSerial, "a new connection gets the renewed certificate");
    assert.equal(before.getPeerCertificate().serialNumber, firstSerial);
    assert.equal(closed, false, "the connection opened before the renewal stays open");
    assert.equal(before.destroyed, false);
  } finally {
    for (const socket of sockets) socket.destroy();
    tls.close();
    await server.shutdown(100);
  }
});
