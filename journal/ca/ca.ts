/**
 * The journal's enrollment CA: a site CA loaded from PEM files
 * (`deploy/setup-ca.sh`) or an ephemeral one generated here, both ECDSA
 * P-256. It signs node certificates whose subject and SANs carry the node
 * id; the private key never leaves this object except as the PKCS#8 an
 * ephemeral CA's CA_ROTATED entry carries to the other replicas.
 */
import { EC_P256, generateP256KeyPair, sha256HexOf, x509 } from "../../shared/crypto/x509.ts";
import { isIP } from "node:net";
import { PactError } from "../../shared/errors/mod.ts";

/** Where a CA came from. */
export type CaSource = "ephemeral" | "site";

/** A certificate the CA issued. */
export interface IssuedCert {
  readonly certPem: string;
  /** Lowercase hex, as in the certificate. */
  readonly serial: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

/** What a node certificate is issued for. */
export interface CertRequest {
  readonly nodeId: string;
  readonly domainId: string;
  readonly publicKey: x509.PublicKey;
  readonly nowMs: number;
  readonly lifetimeMs: number;
}

/** What the journal's own TLS server certificate is issued for. */
export interface ServerCertRequest {
  readonly journalId: string;
  readonly domainId: string;
  /** DNS names and IP addresses the certificate is valid for (at least one). */
  readonly names: readonly string[];
  readonly publicKey: x509.PublicKey;
  readonly nowMs: number;
  readonly lifetimeMs: number;
}

/** A CA certificate and its signing key. */
export class CertificateAuthority {
  readonly cert: x509.X509Certificate;
  readonly certPem: string;
  readonly fingerprint: string;
  readonly source: CaSource;
  readonly #key: CryptoKey;
  /** The same in every certificate this CA issues: made once. */
  #authorityKeyId: Promise<x509.AuthorityKeyIdentifierExtension> | undefined;

  private constructor(
    cert: x509.X509Certificate,
    key: CryptoKey,
    fingerprint: string,
    source: CaSource,
  ) {
    this.cert = cert;
    this.certPem = cert.toString("pem");
    this.#key = key;
    this.fingerprint = fingerprint;
    this.source = source;
  }

  /** When the CA certificate expires. */
  get notAfterMs(): number {
    return this.cert.notAfter.getTime();
  }

  /** Generates a self-signed P-256 CA `pact-ca-<domain>`, valid `validityMs` from `nowMs`. */
  static async generate(domainId: string, nowMs: number, validityMs: number) {
    const keys = await generateP256KeyPair();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: `CN=pact-ca-${domainId}`,
      notBefore: new Date(nowMs - 60_000),
      notAfter: new Date(nowMs + validityMs),
      signingAlgorithm: EC_P256,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const ca = await CertificateAuthority.#of(cert, keys.privateKey, "ephemeral");
    return ca;
  }

  /** A CA from PEM texts (site CA files); throws CONFIG when they are not a P-256 CA and its key. */
  static async fromPem(certPem: string, keyPem: string, source: CaSource = "site") {
    let cert: x509.X509Certificate;
    try {
      cert = new x509.X509Certificate(certPem);
    } catch (err) {
      throw new PactError("CONFIG", `CA certificate is not a PEM certificate: ${message(err)}`);
    }
    const der = pemBody(keyPem, "PRIVATE KEY");
    if (der === undefined) {
      throw new PactError(
        "CONFIG",
        "CA key is not an unencrypted PKCS#8 PEM key (BEGIN PRIVATE KEY); setup-ca.sh writes one",
      );
    }
    return await CertificateAuthority.fromPkcs8(cert, der, source);
  }

  /** A CA from its certificate and PKCS#8 key bytes (an ephemeral CA read back from the log). */
  static async fromPkcs8(
    cert: x509.X509Certificate | string,
    keyPkcs8: Uint8Array,
    source: CaSource,
  ): Promise<CertificateAuthority> {
    const certificate = typeof cert === "string" ? new x509.X509Certificate(cert) : cert;
    let key: CryptoKey;
    try {
      key = await crypto.subtle.importKey(
        "pkcs8",
        keyPkcs8 as Uint8Array<ArrayBuffer>,
        EC_P256,
        true,
        ["sign"],
      );
    } catch (err) {
      throw new PactError("CONFIG", `CA key is not an ECDSA P-256 key: ${message(err)}`);
    }
    const ca = await CertificateAuthority.#of(certificate, key, source);
    if (!(await ca.#keyMatches())) {
      throw new PactError("CONFIG", "CA key does not belong to the CA certificate");
    }
    return ca;
  }

  static async #of(cert: x509.X509Certificate, key: CryptoKey, source: CaSource) {
    const basic = cert.getExtension(x509.BasicConstraintsExtension);
    if (!basic?.ca) {
      throw new PactError("CONFIG", `Certificate ${cert.subject} is not a CA (basicConstraints)`);
    }
    return new CertificateAuthority(cert, key, await sha256HexOf(cert.rawData), source);
  }

  /** PKCS#8 DER of the key, for the CA_ROTATED entry of an ephemeral CA. */
  async exportKey(): Promise<Uint8Array> {
    return new Uint8Array(await crypto.subtle.exportKey("pkcs8", this.#key));
  }

  /**
   * Issues a node certificate: subject `CN=pact-service-agent/<node>@<domain>`,
   * SANs `DNS:<node>` and `URI:spiffe://<domain>/pact-agent/<node>`, client
   * and server auth, lifetime clipped to the CA's own.
   */
  async issue(request: CertRequest): Promise<IssuedCert> {
    const notBeforeMs = request.nowMs - 60_000;
    const notAfterMs = Math.min(request.nowMs + request.lifetimeMs, this.notAfterMs);
    const serial = randomSerial();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject: `CN=pact-service-agent/${request.nodeId}@${request.domainId}`,
      issuer: this.cert.subject,
      notBefore: new Date(notBeforeMs),
      notAfter: new Date(notAfterMs),
      signingAlgorithm: EC_P256,
      publicKey: request.publicKey,
      signingKey: this.#key,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.clientAuth,
          x509.ExtendedKeyUsage.serverAuth,
        ]),
        new x509.SubjectAlternativeNameExtension([
          { type: "dns", value: request.nodeId },
          { type: "url", value: nodeUri(request.domainId, request.nodeId) },
        ]),
        await subjectKeyIdentifier(request.publicKey),
        await this.#authorityKeyIdentifier(),
      ],
    });
    return { certPem: cert.toString("pem"), serial: cert.serialNumber, notBeforeMs, notAfterMs };
  }

  /**
   * Issues the journal's own TLS server certificate: subject
   * `CN=pact-journal/<journal>@<domain>`, a DNS or IP SAN for each of
   * `names`, server and client auth, lifetime clipped to the CA's own.
   */
  async issueServer(request: ServerCertRequest): Promise<IssuedCert> {
    const notBeforeMs = request.nowMs - 60_000;
    const notAfterMs = Math.min(request.nowMs + request.lifetimeMs, this.notAfterMs);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=pact-journal/${request.journalId}@${request.domainId}`,
      issuer: this.cert.subject,
      notBefore: new Date(notBeforeMs),
      notAfter: new Date(notAfterMs),
      signingAlgorithm: EC_P256,
      publicKey: request.publicKey,
      signingKey: this.#key,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        new x509.SubjectAlternativeNameExtension(
          request.names.map((name): x509.JsonGeneralName => ({
            type: isIP(name) === 0 ? "dns" : "ip",
            value: name,
          })),
        ),
        await subjectKeyIdentifier(request.publicKey),
        await this.#authorityKeyIdentifier(),
      ],
    });
    return { certPem: cert.toString("pem"), serial: cert.serialNumber, notBeforeMs, notAfterMs };
  }

  #authorityKeyIdentifier(): Promise<x509.AuthorityKeyIdentifierExtension> {
    this.#authorityKeyId ??= x509.AuthorityKeyIdentifierExtension.create(this.cert);
    return this.#authorityKeyId;
  }

  async #keyMatches(): Promise<boolean> {
    const probe = new Uint8Array([1, 2, 3]);
    const signature = await crypto.subtle.sign(EC_P256, this.#key, probe);
    const publicKey = await this.cert.publicKey.export(EC_P256, ["verify"]);
    return await crypto.subtle.verify(EC_P256, publicKey, signature, probe);
  }
}

/** DER length of a P-256 SubjectPublicKeyInfo: a 26-byte header and the 65-byte point. */
const P256_SPKI_BYTES = 91;

/**
 * The subject key identifier (RFC 5280 method 1: SHA-1 of the public key
 * bits). For a P-256 key the bits are the SPKI's last 65 bytes, hashed
 * here directly; other keys go through the library (which parses the SPKI
 * again), as does nothing else on the signing path.
 */
export async function subjectKeyIdentifier(
  publicKey: x509.PublicKey,
): Promise<x509.SubjectKeyIdentifierExtension> {
  const spki = new Uint8Array(publicKey.rawData);
  if (spki.length !== P256_SPKI_BYTES || spki[P256_SPKI_BYTES - 65] !== 0x04) {
    return await x509.SubjectKeyIdentifierExtension.create(publicKey);
  }
  const digest = await crypto.subtle.digest("SHA-1", spki.slice(P256_SPKI_BYTES - 65));
  const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return new x509.SubjectKeyIdentifierExtension(hex);
}

/** The SPIFFE-style URI SAN that names a node: `spiffe://<domain>/pact-agent/<node>`. */
export function nodeUri(domainId: string, nodeId: string): string {
  return `spiffe://${domainId}/pact-agent/${nodeId}`;
}

/** 16 random bytes as hex, the top bit clear so the DER integer stays positive. */
function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x10;
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function pemBody(pem: string, label: string): Uint8Array | undefined {
  const match = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(pem);
  if (!match) return undefined;
  const text = match[1]!.replace(/\s+/g, "");
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function message(err: unknown): string {
  return (err as Error)?.message ?? String(err);
}
