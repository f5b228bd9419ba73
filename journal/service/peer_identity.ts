/**
 * Who an mTLS client is: the node a client certificate from the journal's
 * CA names (SAN `spiffe://<domain>/pact-agent/<node>`), checked on every
 * call against the journal state every replica tails, so that a
 * decommissioned node's certificate is refused at once everywhere.
 */
import type { PeerCertificate } from "node:tls";
import { nodeUri } from "../ca/ca.ts";
import type { SpiffeTrust } from "../ca/spiffe_trust.ts";
import type { Clock } from "../../shared/clock/clock.ts";
import { EC_P256, x509 } from "../../shared/crypto/x509.ts";
import { isValidId } from "../../shared/domain/scope.ts";
import { PactError } from "../../shared/errors/mod.ts";
import { EnrollmentState } from "../../shared/proto/gen/pact/config/config.ts";
import type { Journal } from "../core/journal.ts";

/** The node a verified client certificate belongs to. */
export interface MachineIdentity {
  readonly nodeId: string;
  /** Lowercase hex, as the journal records serials. */
  readonly serial: string;
  readonly notAfterMs: number;
  /** `spiffe` for a SPIRE X.509-SVID; absent for a certificate of the journal's CA. */
  readonly source?: "spiffe";
}

/**
 * Headers a read replica sets when it forwards an agent's write: the node
 * whose client certificate it verified, that certificate's serial and
 * source. Trusted only on a connection whose client certificate is a
 * journal's own (`CN=pact-journal/<id>@<domain>` from the current CA);
 * from any other caller they are refused (`identifyForwarded`).
 */
export const FORWARDED_NODE_HEADER = "pact-forwarded-node";
export const FORWARDED_SERIAL_HEADER = "pact-forwarded-serial";
export const FORWARDED_SOURCE_HEADER = "pact-forwarded-source";

/** What a replica asserts about the agent it forwards for. */
export interface ForwardedClaim {
  readonly nodeId: string;
  readonly serial: string;
  readonly source: "spiffe" | "journal-ca";
}

/** How often calls in progress are checked against revocations. */
export const REVOCATION_CHECK_MS = 500;

/** Parsed certificates kept, by DER; a bound on memory, not a correctness matter. */
const PARSED_CERTS_MAX = 20_000;

interface Parsed {
  readonly cert: x509.X509Certificate;
  readonly nodeId: string | undefined;
  /** The CA fingerprint whose key verified the signature ("" when not yet). */
  verifiedBy: string;
}

/** Identifies mTLS callers against the journal's CA, registry and revocations. */
export class PeerVerifier {
  readonly #journal: Journal;
  readonly #domainId: string;
  readonly #clock: Clock;
  readonly #parsed = new Map<string, Parsed>();
  #caKey: { fingerprint: string; key: Promise<CryptoKey> } | undefined;
  readonly #tracked = new Map<
    symbol,
    { machine: MachineIdentity; onRevoked: (e: PactError) => void }
  >();
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #spiffe: SpiffeTrust | undefined;

  /** `spiffe`: also accept SPIRE SVIDs of that trust domain and bundle. */
  constructor(journal: Journal, domainId: string, clock: Clock, spiffe?: SpiffeTrust) {
    this.#journal = journal;
    this.#domainId = domainId;
    this.#clock = clock;
    this.#spiffe = spiffe;
  }

  /**
   * The node of a client certificate the TLS layer accepted; throws
   * UNAUTHENTICATED (with the reason) for a certificate the journal does
   * not accept now: another CA, expired, no node, unknown or revoked node.
   */
  async identify(peer: PeerCertificate): Promise<MachineIdentity> {
    const parsed = this.#parse(peer.raw);
    if (this.#spiffe?.claims(parsed.cert)) return await this.#identifySvid(parsed.cert);
    const { cert, nodeId } = parsed;
    const serial = cert.serialNumber.toLowerCase();
    const ca = this.#journal.state.enrollment.ca;
    if (!ca) throw refused("the journal has no CA yet");
    if (parsed.verifiedBy !== ca.fingerprint) {
      if (!(await this.#signedBy(cert, ca.fingerprint, ca.certPem))) {
        throw refused(`certificate ${serial} is not signed by the journal's current CA`);
      }
      parsed.verifiedBy = ca.fingerprint;
    }
    const now = this.#clock.now();
    if (now > cert.notAfter.getTime() || now < cert.notBefore.getTime()) {
      throw refused(
        `certificate ${serial} is outside its validity (${cert.notAfter.toISOString()})`,
      );
    }
    if (nodeId === undefined) {
      throw refused(`certificate ${serial} names no pact node of domain ${this.#domainId}`);
    }
    const book = this.#journal.state.enrollment;
    const record = book.nodes.get(nodeId);
    if (!record) throw refused(`node ${nodeId} is not registered`);
    if (record.state === EnrollmentState.REVOKED || book.revokedSerials.has(serial)) {
      throw refused(`certificate ${serial} of node ${nodeId} is revoked (decommissioned)`);
    }
    // A renewal or a new enrollment supersedes the previous certificate for
    // new calls (calls already open on it continue).
    if (record.certSerial !== serial) {
      throw refused(
        `certificate ${serial} of node ${nodeId} was superseded by ${record.certSerial || "none"}`,
      );
    }
    return { nodeId, serial, notAfterMs: cert.notAfter.getTime() };
  }

  /**
   * A write a read replica forwards for an agent: `peer` must be a
   * journal's certificate from the current CA (no client can get one by
   * enrolling: node certificates are `pact-service-agent/...`), and the
   * node it speaks for is checked again against this journal's registry.
   */
  async identifyForwarded(peer: PeerCertificate, claim: ForwardedClaim): Promise<MachineIdentity> {
    const parsed = this.#parse(peer.raw);
    const { cert } = parsed;
    const journal = /^CN=pact-journal\/([^@,]+)@([^,]+)$/.exec(cert.subject);
    const ca = this.#journal.state.enrollment.ca;
    if (!journal || journal[2] !== this.#domainId || parsed.nodeId !== undefined || !ca) {
      throw refused(
        `a forwarded identity is accepted from a journal of domain ${this.#domainId} only, not from ${cert.subject}`,
      );
    }
    if (parsed.verifiedBy !== ca.fingerprint) {
      if (!(await this.#signedBy(cert, ca.fingerprint, ca.certPem))) {
        throw refused(`journal certificate ${cert.serialNumber} is not signed by the current CA`);
      }
      parsed.verifiedBy = ca.fingerprint;
    }
    const now = this.#clock.now();
    if (now > cert.notAfter.getTime() || now < cert.notBefore.getTime()) {
      throw refused(`journal certificate ${cert.serialNumber} is outside its validity`);
    }
    const { nodeId, serial } = claim;
    if (!isValidId(nodeId) || !/^[0-9a-f]{1,64}$/.test(serial)) {
      throw refused(`malformed forwarded identity ${JSON.stringify(nodeId)} ${serial}`);
    }
    const book = this.#journal.state.enrollment;
    const record = book.nodes.get(nodeId);
    if (!record) throw refused(`forwarded node ${nodeId} is not registered`);
    if (record.state === EnrollmentState.REVOKED || book.revokedSerials.has(serial)) {
      throw refused(`certificate ${serial} of node ${nodeId} is revoked (decommissioned)`);
    }
    if (claim.source === "journal-ca" && record.certSerial !== serial) {
      throw refused(
        `certificate ${serial} of node ${nodeId} was superseded by ${record.certSerial || "none"}`,
      );
    }
    return {
      nodeId,
      serial,
      notAfterMs: cert.notAfter.getTime(),
      ...(claim.source === "spiffe" ? { source: "spiffe" as const } : {}),
    };
  }

  /**
   * An SVID: signed by the SPIFFE bundle, in its validity, naming a
   * registered node that is not decommissioned. SPIRE, not the journal,
   * issues and rotates it, so no recorded serial supersedes it.
   */
  async #identifySvid(cert: x509.X509Certificate): Promise<MachineIdentity> {
    const serial = cert.serialNumber.toLowerCase();
    const verdict = await this.#spiffe!.nodeOf(cert);
    if ("refusal" in verdict) throw refused(verdict.refusal);
    const now = this.#clock.now();
    if (now > cert.notAfter.getTime() || now < cert.notBefore.getTime()) {
      throw refused(`SVID ${serial} is outside its validity (${cert.notAfter.toISOString()})`);
    }
    const nodeId = verdict.node;
    const book = this.#journal.state.enrollment;
    const record = book.nodes.get(nodeId);
    if (!record) throw refused(`node ${nodeId} of SVID ${serial} is not registered`);
    if (record.state === EnrollmentState.REVOKED || book.revokedSerials.has(serial)) {
      throw refused(`SVID ${serial} of node ${nodeId} is revoked (decommissioned)`);
    }
    return { nodeId, serial, notAfterMs: cert.notAfter.getTime(), source: "spiffe" };
  }

  /**
   * Calls `onRevoked` (once) when the node of a call in progress is
   * decommissioned or its certificate revoked, so that long streams end
   * too; returns the function that stops watching.
   */
  track(machine: MachineIdentity, onRevoked: (error: PactError) => void): () => void {
    const key = Symbol(machine.nodeId);
    this.#tracked.set(key, { machine, onRevoked });
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#sweep(), REVOCATION_CHECK_MS);
      Deno.unrefTimer(this.#timer);
    }
    return () => {
      this.#tracked.delete(key);
      if (this.#tracked.size === 0) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  #sweep(): void {
    const book = this.#journal.state.enrollment;
    for (const [key, { machine, onRevoked }] of this.#tracked) {
      const record = book.nodes.get(machine.nodeId);
      if (
        record && record.state !== EnrollmentState.REVOKED &&
        !book.revokedSerials.has(machine.serial)
      ) continue;
      this.#tracked.delete(key);
      onRevoked(
        refused(
          `certificate ${machine.serial} of node ${machine.nodeId} was revoked (decommissioned)`,
        ),
      );
    }
  }

  #parse(raw: Uint8Array): Parsed {
    const key = hex(raw);
    const cached = this.#parsed.get(key);
    if (cached) return cached;
    let cert: x509.X509Certificate;
    try {
      cert = new x509.X509Certificate(raw as Uint8Array<ArrayBuffer>);
    } catch {
      throw refused("the client certificate is not a valid X.509 certificate");
    }
    const parsed: Parsed = { cert, nodeId: this.#nodeOf(cert), verifiedBy: "" };
    if (this.#parsed.size >= PARSED_CERTS_MAX) this.#parsed.clear();
    this.#parsed.set(key, parsed);
    return parsed;
  }

  #nodeOf(cert: x509.X509Certificate): string | undefined {
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    const prefix = nodeUri(this.#domainId, "");
    for (const name of san?.names.items ?? []) {
      if (name.type === "url" && name.value.startsWith(prefix)) {
        const node = name.value.slice(prefix.length);
        if (isValidId(node)) return node;
      }
    }
    return undefined;
  }

  async #signedBy(cert: x509.X509Certificate, fingerprint: string, caPem: string) {
    if (this.#caKey?.fingerprint !== fingerprint) {
      const ca = new x509.X509Certificate(caPem);
      this.#caKey = { fingerprint, key: ca.publicKey.export(EC_P256, ["verify"]) };
    }
    try {
      return await cert.verify({ publicKey: await this.#caKey.key, signatureOnly: true });
    } catch {
      return false;
    }
  }
}

/** The rule (trailer `pact-error-rule`) of a call refused for its client certificate. */
export const CLIENT_CERT_REFUSED = "CLIENT_CERT_REFUSED";

function refused(reason: string): PactError {
  return Object.assign(
    new PactError("UNAUTHENTICATED", `Client certificate refused: ${reason}`),
    { rule: CLIENT_CERT_REFUSED },
  );
}

function hex(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += byte.toString(16).padStart(2, "0");
  return text;
}
