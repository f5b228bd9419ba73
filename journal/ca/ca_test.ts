import assert from "node:assert/strict";
import { generateP256KeyPair, x509 } from "../../shared/crypto/x509.ts";
import { CertificateAuthority, subjectKeyIdentifier } from "./ca.ts";

async function p256PublicKey(): Promise<x509.PublicKey> {
  const keys = await generateP256KeyPair();
  return new x509.PublicKey(await crypto.subtle.exportKey("spki", keys.publicKey));
}

Deno.test("subjectKeyIdentifier() of a P-256 key equals the library's RFC 5280 identifier", async () => {
  for (let i = 0; i < 5; i++) {
    const key = await p256PublicKey();
    const ours = await subjectKeyIdentifier(key);
    const library = await x509.SubjectKeyIdentifierExtension.create(key);
    assert.equal(ours.keyId, library.keyId);
  }
});

Deno.test("CertificateAuthority.issue() links each certificate to the CA by key identifiers", async () => {
  const ca = await CertificateAuthority.generate("default", Date.now(), 86_400_000);
  const caKeyId = ca.cert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
  for (const nodeId of ["n1", "n2"]) {
    const publicKey = await p256PublicKey();
    const issued = await ca.issue({
      nodeId,
      domainId: "default",
      publicKey,
      nowMs: Date.now(),
      lifetimeMs: 3_600_000,
    });
    const cert = new x509.X509Certificate(issued.certPem);
    assert.ok(await cert.verify({ publicKey: ca.cert.publicKey, signatureOnly: true }));
    assert.equal(cert.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId, caKeyId);
    assert.equal(
      cert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId,
      (await x509.SubjectKeyIdentifierExtension.create(publicKey)).keyId,
    );
  }
});
