/**
 * A test double of a SPIRE agent: serves the real SPIFFE Workload API
 * (`/SpiffeWorkloadAPI/FetchX509SVID` over gRPC on a unix socket, the
 * `workload.spiffe.io: true` header required) and issues X.509-SVIDs
 * from its own P-256 CA. What it issues is chosen by the test
 * (`assign`), as SPIRE's registration entries would; without one a call
 * is refused PERMISSION_DENIED "no identity issued", as SPIRE does.
 */
import { Server, ServerCredentials, type ServerWritableStream, status } from "@grpc/grpc-js";
import { derToPem } from "../../shared/crypto/pem.ts";
import { EC_P256, generateP256KeyPair, x509 } from "../../shared/crypto/x509.ts";
import {
  SPIFFE_WORKLOAD_API,
  WORKLOAD_HEADER,
  type X509SvidRequest,
  type X509SvidResponse,
} from "../../shared/spiffe/workload_api.ts";

type Stream = ServerWritableStream<X509SvidRequest, X509SvidResponse>;

/** A fake SPIRE agent on a unix socket. */
export class FakeSpireAgent {
  readonly socketPath: string;
  readonly trustDomain: string;
  readonly #server: Server;
  readonly #ca: { cert: x509.X509Certificate; keys: CryptoKeyPair };
  readonly #streams = new Set<Stream>();
  #spiffeId: string | undefined;
  #lifetimeMs = 3_600_000;
  /** Calls answered with an SVID, and calls refused for a missing header. */
  served = 0;
  missingHeader = 0;

  private constructor(
    socketPath: string,
    trustDomain: string,
    server: Server,
    ca: { cert: x509.X509Certificate; keys: CryptoKeyPair },
  ) {
    this.socketPath = socketPath;
    this.trustDomain = trustDomain;
    this.#server = server;
    this.#ca = ca;
  }

  /** Another agent of the same trust domain and CA (as two nodes' SPIRE agents are). */
  static startWithCaOf(other: FakeSpireAgent, socketPath: string): Promise<FakeSpireAgent> {
    return FakeSpireAgent.#serve(socketPath, other.trustDomain, other.#ca);
  }

  /** Starts serving on `socketPath` with a new CA for `trustDomain`. */
  static async start(socketPath: string, trustDomain: string): Promise<FakeSpireAgent> {
    const keys = await generateP256KeyPair();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: "01",
      name: `CN=fake-spire-ca,O=SPIFFE`,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
      signingAlgorithm: EC_P256,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
          true,
        ),
        new x509.SubjectAlternativeNameExtension([{
          type: "url",
          value: `spiffe://${trustDomain}`,
        }]),
      ],
    });
    return await FakeSpireAgent.#serve(socketPath, trustDomain, { cert, keys });
  }

  static async #serve(
    socketPath: string,
    trustDomain: string,
    ca: { cert: x509.X509Certificate; keys: CryptoKeyPair },
  ): Promise<FakeSpireAgent> {
    const server = new Server();
    const agent = new FakeSpireAgent(socketPath, trustDomain, server, ca);
    server.addService(SPIFFE_WORKLOAD_API, {
      fetchX509Svid: (call: Stream) => void agent.#fetch(call),
    });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(
        `unix:${socketPath}`,
        ServerCredentials.createInsecure(),
        (err) => (err ? reject(err) : resolve()),
      )
    );
    return agent;
  }

  /** The trust bundle (the CA certificate) as PEM, for the journal's configuration. */
  get bundlePem(): string {
    return this.#ca.cert.toString("pem");
  }

  /**
   * The SPIFFE ID the workload gets (undefined: none); open streams get an
   * SVID for it at once, as SPIRE pushes rotations.
   */
  async assign(spiffeId: string | undefined, lifetimeMs = 3_600_000): Promise<void> {
    this.#spiffeId = spiffeId;
    this.#lifetimeMs = lifetimeMs;
    if (spiffeId === undefined) return;
    for (const stream of this.#streams) stream.write(await this.#response(spiffeId));
  }

  /** An SVID for `spiffeId` from this agent's CA, as PEM (for direct checks). */
  async issue(spiffeId: string): Promise<{ certPem: string; leafDer: Uint8Array }> {
    const svid = (await this.#response(spiffeId)).svids[0]!;
    return { certPem: certPem(svid.x509Svid), leafDer: svid.x509Svid };
  }

  /** Stops serving and removes the socket. */
  async stop(): Promise<void> {
    for (const stream of this.#streams) stream.end();
    this.#server.forceShutdown();
    await Deno.remove(this.socketPath).catch(() => {});
  }

  async #fetch(call: Stream): Promise<void> {
    if (call.metadata.get(WORKLOAD_HEADER)[0] !== "true") {
      this.missingHeader++;
      call.emit("error", {
        code: status.INVALID_ARGUMENT,
        details: "security header missing from request",
      });
      return;
    }
    const spiffeId = this.#spiffeId;
    if (spiffeId === undefined) {
      call.emit("error", { code: status.PERMISSION_DENIED, details: "no identity issued" });
      return;
    }
    this.#streams.add(call);
    call.on("cancelled", () => this.#streams.delete(call));
    call.on("close", () => this.#streams.delete(call));
    this.served++;
    call.write(await this.#response(spiffeId));
  }

  async #response(spiffeId: string): Promise<X509SvidResponse> {
    const keys = await generateP256KeyPair();
    const now = Date.now();
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: crypto.randomUUID().replaceAll("-", ""),
      subject: "O=SPIRE,C=US",
      issuer: this.#ca.cert.subject,
      notBefore: new Date(now - 10_000),
      notAfter: new Date(now + this.#lifetimeMs),
      signingAlgorithm: EC_P256,
      publicKey: keys.publicKey,
      signingKey: this.#ca.keys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        new x509.SubjectAlternativeNameExtension([{ type: "url", value: spiffeId }]),
      ],
    });
    return {
      svids: [{
        spiffeId,
        x509Svid: new Uint8Array(leaf.rawData),
        x509SvidKey: new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey)),
        bundle: new Uint8Array(this.#ca.cert.rawData),
        hint: "",
      }],
      crl: [],
      federatedBundles: new Map(),
    };
  }
}

/** PEM of a DER certificate (for assertions). */
export function certPem(der: Uint8Array): string {
  return derToPem(der, "CERTIFICATE");
}
