/**
 * Fixtures for mTLS tests: site CA files (as setup-ca.sh writes them),
 * a fake `/sys` (DMI + one physical NIC) for the agent's hardware reader,
 * and raw boot-stream calls with chosen credentials.
 */
import {
  type ChannelCredentials,
  type ChannelOptions,
  credentials,
  Metadata,
  type ServiceError,
} from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { CertificateAuthority } from "../../journal/ca/ca.ts";
import { derToPem, privateKeyPem } from "../../shared/crypto/pem.ts";
import { generateP256KeyPair, x509 } from "../../shared/crypto/x509.ts";
import {
  type BootConfigChunk,
  BootConfigServiceClient,
} from "../../shared/proto/gen/pact/stream/stream.ts";

/** A CA written as `<dir>/<name>.crt` and `<dir>/<name>.key`. */
export interface CaFiles {
  readonly ca: CertificateAuthority;
  readonly certFile: string;
  readonly keyFile: string;
}

/** Generates a P-256 CA and writes its PEM files (key 0600). */
export async function writeSiteCa(dir: string, name: string, domain = "default"): Promise<CaFiles> {
  const ca = await CertificateAuthority.generate(domain, Date.now(), 30 * 86_400_000);
  const certFile = `${dir}/${name}.crt`;
  const keyFile = `${dir}/${name}.key`;
  await Deno.writeTextFile(certFile, ca.certPem);
  await Deno.writeTextFile(keyFile, derToPem(await ca.exportKey(), "PRIVATE KEY"), { mode: 0o600 });
  return { ca, certFile, keyFile };
}

/** A fake sysfs: `dmi/product_uuid`, `dmi/board_serial`, `net/eth0` (physical) and `net/lo`. */
export async function writeFakeSys(
  dir: string,
  facts: { uuid: string; mac: string; serial: string },
): Promise<{ dmiDir: string; netDir: string }> {
  const dmiDir = `${dir}/dmi`;
  const netDir = `${dir}/net`;
  await Deno.mkdir(dmiDir, { recursive: true });
  await Deno.writeTextFile(`${dmiDir}/product_uuid`, `${facts.uuid.toUpperCase()}\n`);
  await Deno.writeTextFile(`${dmiDir}/board_serial`, `${facts.serial}\n`);
  await Deno.mkdir(`${netDir}/eth0/device`, { recursive: true });
  await Deno.writeTextFile(`${netDir}/eth0/type`, "1\n");
  await Deno.writeTextFile(`${netDir}/eth0/address`, `${facts.mac}\n`);
  await Deno.mkdir(`${netDir}/lo`, { recursive: true });
  await Deno.writeTextFile(`${netDir}/lo/type`, "772\n");
  await Deno.writeTextFile(`${netDir}/lo/address`, "00:00:00:00:00:00\n");
  return { dmiDir, netDir };
}

/** A client certificate for `nodeId` issued directly by `ca` (for hostile tests). */
export async function forgedClientCert(
  ca: CertificateAuthority,
  nodeId: string,
  domain = "default",
): Promise<{ keyPem: string; certPem: string }> {
  const keys = await generateP256KeyPair();
  const publicKey = new x509.PublicKey(await crypto.subtle.exportKey("spki", keys.publicKey));
  const issued = await ca.issue({
    nodeId,
    domainId: domain,
    publicKey,
    nowMs: Date.now(),
    lifetimeMs: 3_600_000,
  });
  return { keyPem: await privateKeyPem(keys.privateKey), certPem: issued.certPem };
}

/** mTLS (or, without key and cert, server-TLS only) credentials trusting `caPem`. */
export function tlsCredentials(
  caPem: string,
  client?: { keyPem: string; certPem: string },
): ChannelCredentials {
  return client
    ? credentials.createSsl(
      Buffer.from(caPem),
      Buffer.from(client.keyPem),
      Buffer.from(client.certPem),
    )
    : credentials.createSsl(Buffer.from(caPem));
}

/** What a finished or refused call reports. */
export interface CallOutcome {
  readonly ok: boolean;
  readonly code: number;
  readonly details: string;
  readonly rule: string | undefined;
  readonly messages: BootConfigChunk[];
}

/** One StreamBootConfig call, read to the end. */
export async function streamBoot(
  address: string,
  creds: ChannelCredentials,
  options: ChannelOptions,
  request: { nodeId: string; vclusterId?: string },
  token?: string,
): Promise<CallOutcome> {
  const client = new BootConfigServiceClient(address, creds, options);
  const metadata = new Metadata();
  if (token) metadata.set("authorization", `Bearer ${token}`);
  const messages: BootConfigChunk[] = [];
  try {
    const call = client.streamBootConfig(
      { nodeId: request.nodeId, vclusterId: request.vclusterId ?? "", lastKnownVersion: undefined },
      metadata,
      { deadline: Date.now() + 15_000 },
    );
    for await (const message of call) messages.push(message as BootConfigChunk);
    return { ok: true, code: 0, details: "", rule: undefined, messages };
  } catch (err) {
    const e = err as ServiceError;
    const rule = e.metadata?.get("pact-error-rule")[0];
    return {
      ok: false,
      code: e.code,
      details: e.details,
      rule: typeof rule === "string" ? rule : undefined,
      messages,
    };
  } finally {
    client.close();
  }
}
