import assert from "node:assert/strict";
import { CertStore } from "./cert_store.ts";

const IDENTITY = {
  keyPem: "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n",
  certPem: "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
};

Deno.test("CertStore keeps the identity in memory when it has no cert_dir", async () => {
  const store = new CertStore(undefined);
  assert.equal(await store.load(), undefined);
  await store.save(IDENTITY);
  assert.deepEqual(await store.load(), IDENTITY);
});

Deno.test("CertStore writes key.pem with mode 0600 and reads it back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pact-certs-" });
  try {
    const store = new CertStore(`${dir}/certs`);
    assert.equal(await store.load(), undefined);
    await store.save(IDENTITY);
    assert.equal((await Deno.stat(`${dir}/certs/key.pem`)).mode! & 0o777, 0o600);
    assert.deepEqual(await new CertStore(`${dir}/certs`).load(), IDENTITY);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CertStore refuses a key file that group or others may read", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pact-certs-" });
  try {
    await Deno.writeTextFile(`${dir}/key.pem`, IDENTITY.keyPem, { mode: 0o640 });
    await Deno.chmod(`${dir}/key.pem`, 0o640);
    await Deno.writeTextFile(`${dir}/cert.pem`, IDENTITY.certPem);
    await assert.rejects(
      () => new CertStore(dir).load(),
      /Refusing the agent key .*key\.pem: mode 0640 lets others read it/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
