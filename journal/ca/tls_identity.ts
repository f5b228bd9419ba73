/**
 * The journal's own TLS identity on its gRPC port: a server certificate it
 * issues itself from its enrollment CA, and the CA that client
 * certificates must chain to. It is a grpc-js CertificateProvider, so a CA
 * rotation (a CA_ROTATED entry on any replica) or a server certificate
 * past 2/3 of its lifetime swaps the TLS context without a restart;
 * connections already open keep theirs.
 */
import type { experimental } from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { getLogger } from "@logtape/logtape";
import type { Clock } from "../../shared/clock/clock.ts";
import { privateKeyPem } from "../../shared/crypto/pem.ts";
import { generateP256KeyPair, x509 } from "../../shared/crypto/x509.ts";
import type { CaKeeper } from "./ca_keeper.ts";

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

const log = getLogger(["pact", "journal", "tls"]);

/** What a TlsIdentity is built from. */
export interface TlsIdentityOptions {
  readonly ca: CaKeeper;
  readonly clock: Clock;
  readonly journalId: string;
  readonly domainId: string;
  /** DNS names and IP addresses the server certificate carries. */
  readonly names: readonly string[];
  readonly lifetimeMs: number;
  /** How often the CA and the certificate's age are looked at. Default 5 s. */
  readonly checkIntervalMs?: number;
  /** More CAs client certificates may chain to (the SPIFFE trust bundle), PEM. */
  readonly extraClientCaPem?: string;
}

interface Current {
  readonly caPem: string;
  readonly caFingerprint: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly renewAtMs: number;
}

/** The journal's server certificate and client trust anchor, kept current. */
export class TlsIdentity implements experimental.CertificateProvider {
  readonly #o: TlsIdentityOptions;
  readonly #caListeners = new Set<CaListener>();
  readonly #identityListeners = new Set<IdentityListener>();
  #current: Current | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #refreshing: Promise<void> | undefined;

  constructor(options: TlsIdentityOptions) {
    this.#o = options;
  }

  /** Issues the first certificate and starts watching the CA. */
  async start(): Promise<void> {
    await this.refresh();
    this.#timer = setInterval(() => {
      this.refresh().catch((error) =>
        log.error("Cannot renew the journal's TLS certificate: {error}", {
          error: (error as Error).message,
        })
      );
    }, this.#o.checkIntervalMs ?? 5_000);
    Deno.unrefTimer(this.#timer);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /**
   * The journal's own key and certificate with the CA, for calls it makes
   * to other journals as a client (a read replica forwarding writes).
   */
  clientIdentity(): { caPem: string; certPem: string; keyPem: string } | undefined {
    const current = this.#current;
    return current && { caPem: current.caPem, certPem: current.certPem, keyPem: current.keyPem };
  }

  /** Fingerprint of the CA clients are checked against now. */
  get caFingerprint(): string | undefined {
    return this.#current?.caFingerprint;
  }

  /** Re-issues the server certificate when the CA changed or 2/3 of its lifetime passed. */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#refresh().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #refresh(): Promise<void> {
    const ca = await this.#o.ca.current();
    const now = this.#o.clock.now();
    const current = this.#current;
    if (current && current.caFingerprint === ca.fingerprint && now < current.renewAtMs) return;
    const keys = await generateP256KeyPair();
    const publicKey = new x509.PublicKey(await crypto.subtle.exportKey("spki", keys.publicKey));
    const issued = await ca.issueServer({
      journalId: this.#o.journalId,
      domainId: this.#o.domainId,
      names: this.#o.names,
      publicKey,
      nowMs: now,
      lifetimeMs: this.#o.lifetimeMs,
    });
    this.#current = {
      caPem: ca.certPem,
      caFingerprint: ca.fingerprint,
      certPem: issued.certPem,
      keyPem: await privateKeyPem(keys.privateKey),
      renewAtMs: issued.notBeforeMs + (issued.notAfterMs - issued.notBeforeMs) * 2 / 3,
    };
    log.info("TLS server certificate {serial} for {names}, CA sha256 {ca}", {
      serial: issued.serial,
      names: this.#o.names.join(","),
      ca: ca.fingerprint.slice(0, 16),
    });
    for (const listener of this.#caListeners) this.#sendCa(listener);
    for (const listener of this.#identityListeners) this.#sendIdentity(listener);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.#caListeners.add(listener);
    this.#sendCa(listener);
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.#caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.add(listener);
    this.#sendIdentity(listener);
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.delete(listener);
  }

  // grpc-js registers its context watcher only after adding these listeners,
  // so updates must arrive asynchronously or the first one is lost.
  #sendCa(listener: CaListener): void {
    const current = this.#current;
    if (!current) return;
    const extra = this.#o.extraClientCaPem;
    const pem = extra ? `${current.caPem.trimEnd()}\n${extra}` : current.caPem;
    queueMicrotask(() => listener({ caCertificate: Buffer.from(pem) }));
  }

  #sendIdentity(listener: IdentityListener): void {
    const current = this.#current;
    if (!current) return;
    queueMicrotask(() =>
      listener({
        certificate: Buffer.from(current.certPem),
        privateKey: Buffer.from(current.keyPem),
      })
    );
  }
}
