/**
 * The agent's machine identity (reference §2.10): when a SPIRE agent
 * answers on its socket, its X.509-SVID (the identity cascade's first
 * provider, retried every `spireRetryMs` while the node uses another);
 * otherwise a P-256 key made in
 * memory, a CSR, Enroll over server-TLS (trusting only the configured CA
 * bundle), then mTLS for every journal call. `maintain()` renews at 2/3 of
 * the certificate's lifetime and enrolls again when the journal's CA
 * changed; the driver (`run`) calls it on a timer, tests call it under an
 * injected clock. A renewal swaps the credentials for new connections
 * only: calls and streams already open keep theirs until their owner
 * closes them (dual-channel rotation).
 */
import { type ChannelCredentials, type ChannelOptions, credentials } from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { getLogger } from "@logtape/logtape";
import { type Clock, systemClock } from "../../shared/clock/clock.ts";
import { privateKeyPem } from "../../shared/crypto/pem.ts";
import { EC_P256, generateP256KeyPair, sha256HexOf, x509 } from "../../shared/crypto/x509.ts";
import { PactError } from "../../shared/errors/mod.ts";
import type { HardwareIdentity } from "../../shared/proto/gen/pact/config/config.ts";
import { CertStore } from "./cert_store.ts";
import { renewalTimeMs } from "./renewal.ts";
import type { Svid, SvidSource } from "./spire_source.ts";
import {
  caBundleCall,
  type CallTarget,
  enrollCall,
  EnrollmentCallError,
  renewCall,
} from "./enrollment_calls.ts";

const log = getLogger(["pact", "agent", "identity"]);

/** Default name the journal's server certificate is checked against. */
export const JOURNAL_SERVER_NAME = "pact-journal";

/** What an AgentIdentity is built from. */
export interface AgentIdentityOptions {
  /** Journal gRPC addresses (`host:port`), tried in order. */
  readonly endpoints: readonly string[];
  /** PEM bundle of the CAs the journal's server certificate may chain to. */
  readonly caBundlePem: string;
  readonly hardware: HardwareIdentity;
  /** Name checked in the journal's certificate. Default `pact-journal`. */
  readonly serverName?: string;
  /** Where key and certificate are kept; undefined: memory only. */
  readonly certDir?: string;
  readonly clock?: Clock;
  /** Fraction of the lifetime after which the certificate is renewed. Default 2/3. */
  readonly renewFraction?: number;
  /**
   * Renew this long before expiry instead of at the fraction
   * (`renewal_before_expiry_seconds`); see `renewalTimeMs`.
   */
  readonly renewBeforeExpiryMs?: number | undefined;
  /** Wait after a failed renewal or CA check. Default 5 min. */
  readonly retryMs?: number;
  /** How often the journal's CA is compared with ours. Default 5 min. */
  readonly caCheckIntervalMs?: number;
  /** Per-call deadline. Default 20 s. */
  readonly callTimeoutMs?: number;
  /** SPIRE, tried before enrollment (identity cascade); undefined: enrollment only. */
  readonly spire?: SvidSource | undefined;
  /** How often SPIRE is asked again while the node holds a journal certificate. Default 60 s. */
  readonly spireRetryMs?: number;
}

/** Which provider of the identity cascade the held certificate came from. */
export type IdentitySource = "spire" | "journal-ca";

/** The certificate the agent holds now. */
export interface HeldCertificate {
  readonly nodeId: string;
  readonly vclusterId: string;
  readonly serial: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  /** SHA-256 of the CA that issued it (for an SVID: of the SPIRE bundle's first CA). */
  readonly caFingerprint: string;
  /** `spire` for an X.509-SVID, `journal-ca` for a certificate from enrollment. */
  readonly source: IdentitySource;
}

/** Why the held certificate changed. */
export type IdentityChange = "enrolled" | "renewed" | "re-enrolled" | "svid";

/** Enrolls, renews and re-enrolls the agent's certificate. */
export class AgentIdentity {
  readonly #o: AgentIdentityOptions;
  readonly #clock: Clock;
  readonly #store: CertStore;
  readonly #listeners = new Set<(change: IdentityChange, held: HeldCertificate) => void>();
  #held: HeldCertificate | undefined;
  #nextRenewalAttemptMs = 0;
  #nextCaCheckMs = 0;
  #nextSpireTryMs = 0;
  #maintaining: Promise<IdentityChange | undefined> | undefined;

  constructor(options: AgentIdentityOptions) {
    if (options.endpoints.length === 0) throw new TypeError("AgentIdentity needs an endpoint");
    if (!options.caBundlePem.includes("-----BEGIN CERTIFICATE-----")) {
      throw new PactError("CONFIG", "The CA bundle holds no PEM certificate");
    }
    // One block per line: a bundle concatenated without newlines still loads.
    const caBundlePem = pemBlocks(options.caBundlePem).join("\n") + "\n";
    this.#o = { ...options, caBundlePem };
    this.#clock = options.clock ?? systemClock;
    this.#store = new CertStore(options.certDir);
  }

  /** The certificate held now; throws if none yet (call `start` first). */
  get held(): HeldCertificate {
    if (!this.#held) throw new TypeError("AgentIdentity has no certificate yet: call start()");
    return this.#held;
  }

  /** When `maintain` renews the held certificate. */
  get renewAtMs(): number {
    const { notBeforeMs, notAfterMs } = this.held;
    return renewalTimeMs(notBeforeMs, notAfterMs, {
      ...(this.#o.renewFraction === undefined ? {} : { fraction: this.#o.renewFraction }),
      beforeExpiryMs: this.#o.renewBeforeExpiryMs,
    });
  }

  /** Calls `listener` after every change of the held certificate. */
  onChange(listener: (change: IdentityChange, held: HeldCertificate) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Gets a certificate: reuses a stored one that is still valid and chains
   * to the CA bundle, otherwise enrolls.
   */
  async start(): Promise<HeldCertificate> {
    this.#nextSpireTryMs = this.#clock.now() + (this.#o.spireRetryMs ?? 60_000);
    const svid = await this.#trySpire();
    if (svid) return svid;
    const stored = await this.#store.load();
    const reused = stored && await this.#reusable(stored.keyPem, stored.certPem);
    if (reused) {
      this.#held = reused;
      log.info("Reusing certificate {serial} of node {node}", {
        serial: reused.serial,
        node: reused.nodeId,
      });
      return reused;
    }
    return await this.#enroll("enrolled");
  }

  /** mTLS credentials with the held certificate, for new journal channels. */
  credentials(): ChannelCredentials {
    const held = this.held;
    return mtlsCredentials(this.#o.caBundlePem, held);
  }

  /** Channel options every journal channel needs (the name the server certificate carries). */
  channelOptions(): ChannelOptions {
    const name = this.#o.serverName ?? JOURNAL_SERVER_NAME;
    return { "grpc.ssl_target_name_override": name, "grpc.default_authority": name };
  }

  /**
   * One maintenance step at the clock's current time: renew when the
   * renewal time has come, check the journal's CA when due. Returns what
   * changed, if anything; failures are logged and retried after `retryMs`.
   */
  maintain(): Promise<IdentityChange | undefined> {
    this.#maintaining ??= this.#maintain().finally(() => (this.#maintaining = undefined));
    return this.#maintaining;
  }

  /** Runs `maintain` every `tickMs` until `signal` aborts. */
  async run(signal: AbortSignal, tickMs = 10_000): Promise<void> {
    while (!signal.aborted) {
      await this.maintain();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, tickMs);
        signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve();
        }, { once: true });
      });
    }
  }

  async #maintain(): Promise<IdentityChange | undefined> {
    const now = this.#clock.now();
    const retryMs = this.#o.retryMs ?? 300_000;
    if (this.held.source === "spire") return await this.#maintainSvid(now, retryMs);
    if (this.#o.spire && now >= this.#nextSpireTryMs) {
      this.#nextSpireTryMs = now + (this.#o.spireRetryMs ?? 60_000);
      if (await this.#trySpire()) return "svid";
    }
    if (now >= this.#nextCaCheckMs) {
      try {
        const change = await this.#checkCa();
        this.#nextCaCheckMs = now + (this.#o.caCheckIntervalMs ?? 300_000);
        if (change) return change;
      } catch (err) {
        this.#nextCaCheckMs = now + retryMs;
        log.warn("CA check failed: {error}", { error: (err as Error).message });
      }
    }
    if (now >= this.renewAtMs && now >= this.#nextRenewalAttemptMs) {
      try {
        await this.#renew();
        return "renewed";
      } catch (err) {
        this.#nextRenewalAttemptMs = now + retryMs;
        log.warn("Certificate renewal failed (retry in {s} s): {error}", {
          s: Math.round(retryMs / 1000),
          error: (err as Error).message,
        });
        // Past expiry the journal refuses the certificate: enrolling again is the way back.
        if (now >= this.held.notAfterMs) {
          await this.#enroll("re-enrolled");
          return "re-enrolled";
        }
      }
    }
    return undefined;
  }

  /**
   * An SVID is renewed by asking SPIRE again (it rotates SVIDs itself, at
   * half their lifetime); when SPIRE is gone past the SVID's expiry the
   * node falls back to enrollment.
   */
  async #maintainSvid(now: number, retryMs: number): Promise<IdentityChange | undefined> {
    if (now < this.renewAtMs || now < this.#nextRenewalAttemptMs) return undefined;
    const svid = await this.#trySpire();
    if (svid) return "svid";
    this.#nextRenewalAttemptMs = now + retryMs;
    if (now < this.held.notAfterMs) return undefined;
    await this.#enroll("re-enrolled");
    return "re-enrolled";
  }

  /**
   * Asks SPIRE for the node's SVID when a socket is configured and exists;
   * adopts it (telling listeners, when it replaces another certificate).
   * A failure is logged, not thrown: enrollment is the next provider.
   */
  async #trySpire(): Promise<HeldCertificate | undefined> {
    const spire = this.#o.spire;
    if (!spire || !(await spire.available())) return undefined;
    let svid: Svid;
    try {
      svid = await spire.fetch();
    } catch (err) {
      log.warn("No SVID from {spire}: {error}; using enrollment", {
        spire: spire.describe,
        error: (err as Error).message,
      });
      return undefined;
    }
    const previous = this.#held;
    if (previous?.source === "spire" && previous.serial === svid.serial) return undefined;
    const held: HeldCertificate = {
      nodeId: svid.nodeId,
      vclusterId: previous?.nodeId === svid.nodeId ? previous.vclusterId : "",
      serial: svid.serial,
      certPem: svid.certPem,
      keyPem: svid.keyPem,
      notBeforeMs: svid.notBeforeMs,
      notAfterMs: svid.notAfterMs,
      caFingerprint: svid.bundleFingerprint,
      source: "spire",
    };
    // An SVID is never written to cert_dir: SPIRE keeps it (PB4).
    this.#held = held;
    this.#nextRenewalAttemptMs = 0;
    log.info("Using SVID {id} from {spire} (serial {serial}, until {until})", {
      id: svid.spiffeId,
      spire: spire.describe,
      serial: svid.serial,
      until: new Date(svid.notAfterMs).toISOString(),
    });
    if (previous) this.#changed("svid", held);
    return held;
  }

  /** Enrolls again when the journal's CA is no longer the one our certificate chains to. */
  async #checkCa(): Promise<IdentityChange | undefined> {
    let fingerprint: string;
    try {
      fingerprint = (await this.#anyEndpoint((t) => caBundleCall(t), true)).fingerprintSha256;
    } catch (err) {
      // The journal no longer accepts our certificate (another CA now).
      if (!(err instanceof EnrollmentCallError) || err.code !== "UNAUTHENTICATED") throw err;
      fingerprint = "";
    }
    if (fingerprint === this.held.caFingerprint) return undefined;
    log.info("The journal's CA changed ({old} → {new}): enrolling again", {
      old: this.held.caFingerprint.slice(0, 16),
      new: fingerprint.slice(0, 16) || "unknown",
    });
    await this.#enroll("re-enrolled");
    return "re-enrolled";
  }

  async #enroll(change: IdentityChange): Promise<HeldCertificate> {
    const { keys, der } = await newCsr();
    const response = await this.#anyEndpoint((t) => enrollCall(t, this.#o.hardware, der), false);
    const held = await this.#adopt(
      keys,
      response.certPem,
      response.caChainPem,
      response.nodeId,
      response.vclusterId,
    );
    log.info("Enrolled as node {node} (certificate {serial}, until {until})", {
      node: held.nodeId,
      serial: held.serial,
      until: new Date(held.notAfterMs).toISOString(),
    });
    this.#changed(change, held);
    return held;
  }

  async #renew(): Promise<void> {
    const current = this.held;
    const { keys, der } = await newCsr(current.nodeId);
    const response = await this.#anyEndpoint(
      (t) => renewCall(t, current.nodeId, current.serial, der),
      true,
    );
    const held = await this.#adopt(
      keys,
      response.certPem,
      response.caChainPem,
      current.nodeId,
      current.vclusterId,
    );
    log.info("Renewed certificate {old} → {serial} (until {until})", {
      old: current.serial,
      serial: held.serial,
      until: new Date(held.notAfterMs).toISOString(),
    });
    this.#changed("renewed", held);
  }

  async #adopt(
    keys: CryptoKeyPair,
    certPem: string,
    caPem: string,
    nodeId: string,
    vclusterId: string,
  ): Promise<HeldCertificate> {
    const cert = new x509.X509Certificate(certPem);
    const ca = new x509.X509Certificate(caPem);
    const held: HeldCertificate = {
      nodeId,
      vclusterId,
      serial: cert.serialNumber,
      certPem,
      keyPem: await privateKeyPem(keys.privateKey),
      notBeforeMs: cert.notBefore.getTime(),
      notAfterMs: cert.notAfter.getTime(),
      caFingerprint: await sha256HexOf(ca.rawData),
      source: "journal-ca",
    };
    await this.#store.save({ keyPem: held.keyPem, certPem });
    this.#held = held;
    this.#nextRenewalAttemptMs = 0;
    return held;
  }

  #changed(change: IdentityChange, held: HeldCertificate): void {
    for (const listener of this.#listeners) listener(change, held);
  }

  /** A stored certificate still valid and issued by a CA of the bundle, or undefined. */
  async #reusable(keyPem: string, certPem: string): Promise<HeldCertificate | undefined> {
    let cert: x509.X509Certificate;
    try {
      cert = new x509.X509Certificate(certPem);
    } catch {
      return undefined;
    }
    const now = this.#clock.now();
    if (now >= cert.notAfter.getTime()) return undefined;
    for (const ca of bundleCerts(this.#o.caBundlePem)) {
      const signed = await cert.verify({ publicKey: ca.publicKey, signatureOnly: true })
        .catch(() => false);
      if (!signed) continue;
      const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
      const nodeId = san?.names.items.find((n) => n.type === "dns")?.value ?? "";
      return {
        nodeId,
        vclusterId: "",
        serial: cert.serialNumber,
        certPem,
        keyPem,
        notBeforeMs: cert.notBefore.getTime(),
        notAfterMs: cert.notAfter.getTime(),
        caFingerprint: await sha256HexOf(ca.rawData),
        source: "journal-ca",
      };
    }
    return undefined;
  }

  /** Tries each endpoint in turn; a refusal (not unreachability) ends the attempt at once. */
  async #anyEndpoint<T>(call: (target: CallTarget) => Promise<T>, mtls: boolean): Promise<T> {
    let last: unknown;
    for (const address of this.#o.endpoints) {
      try {
        return await call({
          address,
          credentials: mtls
            ? this.credentials()
            : credentials.createSsl(Buffer.from(this.#o.caBundlePem)),
          options: this.channelOptions(),
          timeoutMs: this.#o.callTimeoutMs ?? 20_000,
        });
      } catch (err) {
        last = err;
        if (!(err instanceof EnrollmentCallError) || err.code !== "UNAVAILABLE") throw err;
      }
    }
    throw last;
  }
}

/**
 * grpc-js credentials for mTLS to the journal: trust only `caBundlePem`,
 * present `identity`'s key and certificate. Pair them with the channel
 * options of `AgentIdentity.channelOptions()` (the journal's name).
 */
export function mtlsCredentials(
  caBundlePem: string,
  identity: { readonly keyPem: string; readonly certPem: string },
): ChannelCredentials {
  return credentials.createSsl(
    Buffer.from(caBundlePem),
    Buffer.from(identity.keyPem),
    Buffer.from(identity.certPem),
  );
}

/** A fresh P-256 key and a CSR for it (CN = the node, when known). */
async function newCsr(nodeId?: string): Promise<{ keys: CryptoKeyPair; der: Uint8Array }> {
  const keys = await generateP256KeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    ...(nodeId ? { name: `CN=${nodeId}` } : {}),
    keys,
    signingAlgorithm: EC_P256,
  });
  return { keys, der: new Uint8Array(csr.rawData) };
}

function pemBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

function bundleCerts(pem: string): x509.X509Certificate[] {
  return pemBlocks(pem).map((block) => new x509.X509Certificate(block));
}
