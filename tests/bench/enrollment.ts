/**
 * Enrollment and mTLS throughput (issue 5), against a real pact-journal
 * serving gRPC over TLS with a site CA:
 * - enrollments/s: Enroll calls through the real RPC (CSR parse + verify,
 *   registry match, sign, journal append), `concurrency` in flight over one
 *   server-TLS channel, CSRs made beforehand;
 * - mTLS handshakes/s on the journal's port: full TLS 1.3 handshakes with
 *   a P-256 client certificate, from `openssl s_time -new` (several
 *   processes at once) and from node:tls in this process (several in flight);
 * - the ceiling in the same run: `openssl s_time` against `openssl
 *   s_server` with the same key type (P-256 server and client
 *   certificates from the same CA). Skipped with a message without openssl.
 * Run alone with `deno run -A tests/bench/enrollment.ts [--quick]`, or as
 * the `enroll` phase of `tests/bench/run.ts`.
 */
import { Metadata } from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { connect as tlsConnect } from "node:tls";
import type { CertificateAuthority } from "../../journal/ca/ca.ts";
import { checkCsr } from "../../journal/ca/csr.ts";
import { privateKeyPem } from "../../shared/crypto/pem.ts";
import { EC_P256, generateP256KeyPair, x509 } from "../../shared/crypto/x509.ts";
import { emptyHardwareIdentity } from "../../shared/domain/hardware_identity.ts";
import { EnrollmentServiceClient } from "../../shared/proto/gen/pact/enrollment/enrollment.ts";
import { JournalProcess } from "../harness/journal_process.ts";
import { forgedClientCert, tlsCredentials, writeSiteCa } from "../harness/mtls_fixtures.ts";
import { type Percentiles, percentiles } from "./stats.ts";
import { table } from "./table.ts";

/** How much work the phase does. */
export interface EnrollCounts {
  readonly nodes: number;
  readonly concurrency: number;
  /** Seconds each handshake measurement runs. */
  readonly handshakeSeconds: number;
  /** node:tls handshakes in flight at once. */
  readonly handshakeConcurrency: number;
  /** `openssl s_time` processes run at once against each server. */
  readonly sTimeClients: number;
}

export const ENROLL_FULL: EnrollCounts = {
  nodes: 2000,
  concurrency: 16,
  handshakeSeconds: 5,
  handshakeConcurrency: 8,
  sTimeClients: 4,
};
export const ENROLL_QUICK: EnrollCounts = {
  nodes: 100,
  concurrency: 8,
  handshakeSeconds: 2,
  handshakeConcurrency: 4,
  sTimeClients: 2,
};

/** A handshake rate. */
export interface HandshakeRate {
  readonly handshakes: number;
  readonly seconds: number;
  readonly perSecond: number;
}

/** What the phase measured. */
export interface EnrollResults {
  /** `checkCsr` + `CertificateAuthority.issue` in this process, one at a time (no RPC, no log). */
  readonly signOnly: { readonly count: number; readonly perSecond: number; readonly p50Ms: number };
  /** The floor of verify + sign: one WebCrypto ECDSA P-256 verify and one sign, p50. */
  readonly rawEcdsaP50Ms: number;
  readonly enrollments: number;
  readonly enrollSeconds: number;
  readonly enrollmentsPerSecond: number;
  readonly enrollLatencyMs: Percentiles;
  readonly concurrency: number;
  /** node:tls from this process to the journal, `handshakeConcurrency` in flight. */
  readonly journalNodeTls: HandshakeRate;
  /** `openssl s_time -new` to the journal; undefined without openssl. */
  readonly journalSTime: HandshakeRate | undefined;
  /** `openssl s_time -new` to `openssl s_server`: the ceiling; undefined without openssl. */
  readonly opensslSTime: HandshakeRate | undefined;
  readonly openssl: string | undefined;
  readonly handshakeConcurrency: number;
  readonly sTimeClients: number;
}

/** Runs the phase; `log` gets progress lines. */
export async function enrollmentBench(
  counts: EnrollCounts,
  log: (message: string) => void,
): Promise<EnrollResults> {
  const dir = await Deno.makeTempDir({ prefix: "pact-bench-enroll-" });
  const site = await writeSiteCa(dir, "site");
  const journal = await JournalProcess.start({
    env: {
      PACT_JOURNAL_GRPC_TLS: "true",
      PACT_CA_CERT: site.certFile,
      PACT_CA_KEY: site.keyFile,
      PACT_ENROLLMENT_RATE_LIMIT_PER_MINUTE: "100000000",
    },
  });
  try {
    const options = { "grpc.ssl_target_name_override": "pact-journal" };
    const client = new EnrollmentServiceClient(
      journal.grpcAddress,
      tlsCredentials(site.ca.certPem),
      options,
    );
    const macs = Array.from({ length: counts.nodes }, (_, i) => macOf(i));
    log(`enroll: registering ${counts.nodes} nodes, making ${counts.nodes} CSRs`);
    await register(client, await journal.token(), macs);
    const csrs = await Promise.all(macs.map(() => csrDer()));
    log(`enroll: ${counts.nodes} Enroll calls, ${counts.concurrency} in flight`);
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: counts.concurrency }, async () => {
        while (next < macs.length) {
          const i = next++;
          const t0 = performance.now();
          await enroll(client, macs[i]!, csrs[i]!);
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const enrollSeconds = (performance.now() - started) / 1000;
    client.close();
    log(`enroll: CSR verify + sign in process for ${Math.min(500, csrs.length)} CSRs`);
    const signOnly = await verifyAndSign(site.ca, csrs.slice(0, 500));
    const rawEcdsaP50Ms = await rawEcdsa(500);

    const clientCert = await forgedClientCert(site.ca, "bench-handshake");
    const files = await writeHandshakeFiles(dir, site.ca, clientCert);
    const port = Number(journal.grpcAddress.split(":")[1]);
    log(`enroll: node:tls mTLS handshakes to the journal for ${counts.handshakeSeconds} s`);
    const journalNodeTls = await nodeTlsHandshakes(
      port,
      site.ca.certPem,
      clientCert,
      counts.handshakeSeconds,
      counts.handshakeConcurrency,
    );
    const openssl = await opensslVersion();
    let journalSTime: HandshakeRate | undefined;
    let opensslSTime: HandshakeRate | undefined;
    if (openssl === undefined) {
      log("enroll: openssl not found: skipping the s_time/s_server ceiling");
    } else {
      log(`enroll: openssl s_time -new to the journal for ${counts.handshakeSeconds} s`);
      journalSTime = await sTimes(port, files, counts.handshakeSeconds, counts.sTimeClients);
      log(`enroll: openssl s_time -new to openssl s_server for ${counts.handshakeSeconds} s`);
      opensslSTime = await againstSServer(files, counts.handshakeSeconds, counts.sTimeClients);
    }
    return {
      signOnly,
      rawEcdsaP50Ms,
      enrollments: latencies.length,
      enrollSeconds,
      enrollmentsPerSecond: latencies.length / enrollSeconds,
      enrollLatencyMs: percentiles(latencies),
      concurrency: counts.concurrency,
      journalNodeTls,
      journalSTime,
      opensslSTime,
      openssl,
      handshakeConcurrency: counts.handshakeConcurrency,
      sTimeClients: counts.sTimeClients,
    };
  } finally {
    await journal.dispose();
    await Deno.remove(dir, { recursive: true });
  }
}

async function verifyAndSign(ca: CertificateAuthority, csrs: Uint8Array[]) {
  const samples: number[] = [];
  const started = performance.now();
  for (const der of csrs) {
    const t0 = performance.now();
    const csr = await checkCsr(der);
    await ca.issue({
      nodeId: "bench",
      domainId: "default",
      publicKey: csr.publicKey,
      nowMs: Date.now(),
      lifetimeMs: 3_600_000,
    });
    samples.push(performance.now() - t0);
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    count: samples.length,
    perSecond: samples.length / seconds,
    p50Ms: percentiles(samples).p50,
  };
}

async function rawEcdsa(count: number): Promise<number> {
  const keys = await generateP256KeyPair();
  const data = new Uint8Array(400);
  const signature = await crypto.subtle.sign(EC_P256, keys.privateKey, data);
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await crypto.subtle.verify(EC_P256, keys.publicKey, signature, data);
    await crypto.subtle.sign(EC_P256, keys.privateKey, data);
    samples.push(performance.now() - t0);
  }
  return percentiles(samples).p50;
}

function macOf(i: number): string {
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  return `52:54:01:${hex((i >> 16) & 255)}:${hex((i >> 8) & 255)}:${hex(i & 255)}`;
}

async function csrDer(): Promise<Uint8Array> {
  const keys = await generateP256KeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: EC_P256,
  });
  return new Uint8Array(csr.rawData);
}

function register(client: EnrollmentServiceClient, token: string, macs: string[]) {
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  const nodes = macs.map((mac, i) => ({
    nodeId: `bench-${i}`,
    hardwareIdentity: { ...emptyHardwareIdentity(), macAddress: mac },
    vclusterId: "",
  }));
  return new Promise<void>((resolve, reject) => {
    client.batchRegisterNodes({ nodes }, metadata, (err, response) => {
      if (err) reject(err);
      else if (response.failed > 0) reject(new Error(`${response.failed} registrations failed`));
      else resolve();
    });
  });
}

function enroll(client: EnrollmentServiceClient, mac: string, csr: Uint8Array) {
  return new Promise<void>((resolve, reject) => {
    client.enroll(
      { hardwareIdentity: { ...emptyHardwareIdentity(), macAddress: mac }, csrDer: csr },
      new Metadata(),
      (err) => (err ? reject(err) : resolve()),
    );
  });
}

interface HandshakeFiles {
  readonly caFile: string;
  readonly clientCert: string;
  readonly clientKey: string;
  readonly serverCert: string;
  readonly serverKey: string;
}

/** PEM files for openssl: the client certificate, and a P-256 server certificate from the same CA. */
async function writeHandshakeFiles(
  dir: string,
  ca: CertificateAuthority,
  client: { keyPem: string; certPem: string },
): Promise<HandshakeFiles> {
  const keys = await generateP256KeyPair();
  const publicKey = new x509.PublicKey(await crypto.subtle.exportKey("spki", keys.publicKey));
  const server = await ca.issueServer({
    journalId: "openssl",
    domainId: "default",
    names: ["pact-journal", "localhost", "127.0.0.1"],
    publicKey,
    nowMs: Date.now(),
    lifetimeMs: 3_600_000,
  });
  const files = {
    caFile: `${dir}/ca.pem`,
    clientCert: `${dir}/client.pem`,
    clientKey: `${dir}/client.key`,
    serverCert: `${dir}/server.pem`,
    serverKey: `${dir}/server.key`,
  };
  await Deno.writeTextFile(files.caFile, ca.certPem);
  await Deno.writeTextFile(files.clientCert, client.certPem);
  await Deno.writeTextFile(files.clientKey, client.keyPem, { mode: 0o600 });
  await Deno.writeTextFile(files.serverCert, server.certPem);
  await Deno.writeTextFile(files.serverKey, await privateKeyPem(keys.privateKey), { mode: 0o600 });
  return files;
}

/** Full handshakes (new sessions, ALPN h2, client certificate) from node:tls. */
async function nodeTlsHandshakes(
  port: number,
  caPem: string,
  client: { keyPem: string; certPem: string },
  seconds: number,
  concurrency: number,
): Promise<HandshakeRate> {
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const socket = tlsConnect({
        host: "127.0.0.1",
        port,
        servername: "pact-journal",
        ca: Buffer.from(caPem),
        key: Buffer.from(client.keyPem),
        cert: Buffer.from(client.certPem),
        ALPNProtocols: ["h2"],
      }, () => {
        socket.destroy();
        resolve();
      });
      socket.once("error", reject);
    });
  const until = performance.now() + seconds * 1000;
  let count = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        await one();
        count++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return { handshakes: count, seconds: elapsed, perSecond: count / elapsed };
}

async function opensslVersion(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("openssl", { args: ["version"], stdout: "piped" }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `clients` `openssl s_time -new` processes at once (each one connects
 * sequentially, so one alone measures round trips more than the server),
 * summed.
 */
async function sTimes(
  port: number,
  files: HandshakeFiles,
  seconds: number,
  clients: number,
): Promise<HandshakeRate> {
  const runs = await Promise.all(
    Array.from({ length: clients }, () => sTime(port, files, seconds)),
  );
  const handshakes = runs.reduce((sum, r) => sum + r.handshakes, 0);
  const real = Math.max(...runs.map((r) => r.seconds));
  return { handshakes, seconds: real, perSecond: handshakes / real };
}

/** `openssl s_time -new` with the client certificate; rate from its "real seconds" line. */
async function sTime(port: number, files: HandshakeFiles, seconds: number): Promise<HandshakeRate> {
  const out = await new Deno.Command("openssl", {
    args: [
      "s_time",
      "-connect",
      `127.0.0.1:${port}`,
      "-new",
      "-time",
      String(seconds),
      "-cert",
      files.clientCert,
      "-key",
      files.clientKey,
      "-CAfile",
      files.caFile,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const match = /(\d+) connections in (\d+(?:\.\d+)?) real seconds/.exec(text);
  if (!match) {
    throw new Error(
      `openssl s_time gave no rate: ${text.slice(-300)} ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  const handshakes = Number(match[1]);
  const real = Math.max(Number(match[2]), 1);
  return { handshakes, seconds: real, perSecond: handshakes / real };
}

/** `openssl s_server` (requesting a client certificate) with the same key type, timed by s_time. */
async function againstSServer(
  files: HandshakeFiles,
  seconds: number,
  clients: number,
): Promise<HandshakeRate> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const server = new Deno.Command("openssl", {
    args: [
      "s_server",
      "-accept",
      `127.0.0.1:${port}`,
      "-cert",
      files.serverCert,
      "-key",
      files.serverKey,
      "-CAfile",
      files.caFile,
      "-verify",
      "1",
      "-quiet",
      "-naccept",
      "1000000",
    ],
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitForPort(port);
    return await sTimes(port, files, seconds, clients);
  } finally {
    server.kill("SIGTERM");
    await server.status;
  }
}

async function waitForPort(port: number): Promise<void> {
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`openssl s_server did not listen on ${port}`);
}

/** The phase's report. */
export function renderEnrollment(r: EnrollResults): string {
  const rate = (h: HandshakeRate | undefined) =>
    h === undefined
      ? ["skipped (no openssl)", "-"]
      : [h.perSecond.toFixed(0), String(h.handshakes)];
  const ratio = r.journalSTime && r.opensslSTime
    ? `${(r.journalSTime.perSecond / r.opensslSTime.perSecond * 100).toFixed(0)} %`
    : "-";
  return [
    `Enrollment over the real RPC (${r.enrollments} nodes, ${r.concurrency} in flight, server TLS)`,
    table(["measure", "value"], [
      ["CSR verify + sign in process, per s", r.signOnly.perSecond.toFixed(0)],
      ["CSR verify + sign in process, p50 ms", r.signOnly.p50Ms.toFixed(2)],
      ["floor: WebCrypto P-256 verify + sign, p50 ms", r.rawEcdsaP50Ms.toFixed(2)],
      ["enrollments/s", r.enrollmentsPerSecond.toFixed(0)],
      ["Enroll p50 ms", r.enrollLatencyMs.p50.toFixed(2)],
      ["Enroll p99 ms", r.enrollLatencyMs.p99.toFixed(2)],
    ]),
    "",
    `mTLS handshakes (TLS 1.3, ECDSA P-256 server and client certificates; ${
      r.openssl ?? "no openssl"
    })`,
    table(["client -> server", "handshakes/s", "handshakes"], [
      [`openssl s_time -new x${r.sTimeClients} -> pact-journal`, ...rate(r.journalSTime)],
      [
        `openssl s_time -new x${r.sTimeClients} -> openssl s_server (ceiling)`,
        ...rate(r.opensslSTime),
      ],
      [
        `node:tls x${r.handshakeConcurrency} in flight -> pact-journal`,
        r.journalNodeTls.perSecond.toFixed(0),
        String(r.journalNodeTls.handshakes),
      ],
      ["journal / ceiling (s_time)", ratio, "-"],
    ]),
  ].join("\n");
}

if (import.meta.main) {
  const counts = Deno.args.includes("--quick") ? ENROLL_QUICK : ENROLL_FULL;
  const results = await enrollmentBench(counts, (m) => console.error(`[bench] ${m}`));
  console.log(renderEnrollment(results));
}
