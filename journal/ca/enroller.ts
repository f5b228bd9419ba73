/**
 * Enroll and RenewCert: match the presented hardware against the registry,
 * check the CSR, sign it and journal the certificate. Every refusal is
 * journaled (ENROLLMENT_REFUSED, with the rule in its metadata) before it
 * is reported; a concurrent second enrollment of one node loses at the
 * journal's own validation, so only one certificate is ever recorded.
 */
import { getLogger } from "@logtape/logtape";
import type { Clock } from "../../shared/clock/clock.ts";
import {
  describeHardware,
  type HardwareFields,
  hardwareFields,
  hardwareIdentityOf,
  hardwareMismatches,
  hardwareTokens,
} from "../../shared/domain/hardware_identity.ts";
import { SERVICE_AGENT } from "../../shared/domain/roles.ts";
import { type ScopeRef, toProtoScope } from "../../shared/domain/scope.ts";
import { isPactError } from "../../shared/errors/mod.ts";
import {
  ConfigEntry,
  EnrollmentState,
  EntryType,
  type HardwareIdentity,
  type Identity,
  PrincipalType,
} from "../../shared/proto/gen/pact/config/config.ts";
import type { Journal } from "../core/journal.ts";
import {
  EnrollmentError,
  issuedByOldCa,
  type NodeEnrollmentRecord,
  PREVIOUS_SERIAL_KEY,
} from "../state/enrollments.ts";
import type { JournalState } from "../state/state.ts";
import type { IssuedCert } from "./ca.ts";
import type { CaKeeper } from "./ca_keeper.ts";
import { checkCsr } from "./csr.ts";
import type { EnrollmentMetrics } from "./enrollment_metrics.ts";

const log = getLogger(["pact", "journal", "enrollment"]);

/** What an Enroller is built from. */
export interface EnrollerOptions {
  readonly journal: Journal;
  readonly ca: CaKeeper;
  readonly clock: Clock;
  readonly domainId: string;
  readonly certLifetimeMs: number;
  readonly metrics: EnrollmentMetrics;
}

/** A signed certificate as Enroll and RenewCert return it. */
export interface Enrollment {
  readonly nodeId: string;
  readonly vclusterId: string;
  readonly cert: IssuedCert;
  readonly caPem: string;
}

/** Signs node certificates against the registry. */
export class Enroller {
  readonly #o: EnrollerOptions;

  constructor(options: EnrollerOptions) {
    this.#o = options;
  }

  /** Enroll: the presented hardware identity and a CSR; refusals are journaled and thrown. */
  async enroll(hardware: HardwareIdentity | undefined, csrDer: Uint8Array): Promise<Enrollment> {
    let fields: HardwareFields | undefined;
    let nodeId: string | undefined;
    try {
      try {
        fields = hardwareFields(hardware);
      } catch (err) {
        throw new EnrollmentError("HARDWARE_MISMATCH", "INVALID_ARGUMENT", (err as Error).message);
      }
      const record = findRegistration(this.#o.journal.state, fields);
      nodeId = record.nodeId;
      checkEnrollable(this.#o.journal.state, record, fields);
      const result = await this.#sign(
        record,
        csrDer,
        (cert, caFingerprint) =>
          ConfigEntry.fromPartial({
            entryType: EntryType.NODE_ACTIVATED,
            scope: toProtoScope({ kind: "node", id: record.nodeId }),
            author: nodeAuthor(record.nodeId),
            message: `enrolled (${describeHardware(fields!)})`,
            payload: {
              $case: "certificate",
              value: certificateRecord(record.nodeId, cert, caFingerprint),
            },
          }),
      );
      this.#o.metrics.requests.inc({ rpc: "Enroll", outcome: "ok" });
      return result;
    } catch (err) {
      await this.#refused("Enroll", err, nodeId, fields);
      throw err;
    }
  }

  /** RenewCert: the node's current serial and a new CSR. */
  async renew(nodeId: string, currentSerial: string, csrDer: Uint8Array): Promise<Enrollment> {
    try {
      const state = this.#o.journal.state;
      const record = state.enrollment.nodes.get(nodeId);
      if (!record) {
        throw new EnrollmentError(
          "NODE_NOT_ENROLLED",
          "NOT_FOUND",
          `Node ${nodeId} is not registered`,
        );
      }
      if (
        record.state === EnrollmentState.REVOKED ||
        state.enrollment.revokedSerials.has(currentSerial)
      ) {
        throw new EnrollmentError(
          "NODE_REVOKED",
          "PERMISSION_DENIED",
          `Cannot renew the certificate of node ${nodeId}: it is revoked (decommissioned)`,
        );
      }
      if (record.certSerial === "" || record.certSerial !== currentSerial) {
        throw new EnrollmentError(
          "SERIAL_MISMATCH",
          "PERMISSION_DENIED",
          `Cannot renew the certificate of node ${nodeId}: serial ${
            currentSerial || "(none)"
          } is not its current certificate`,
        );
      }
      const result = await this.#sign(
        record,
        csrDer,
        (cert, caFingerprint) =>
          ConfigEntry.fromPartial({
            entryType: EntryType.CERT_SIGNED,
            scope: toProtoScope({ kind: "node", id: nodeId }),
            author: nodeAuthor(nodeId),
            message: `certificate renewed (replaces ${currentSerial})`,
            metadata: { [PREVIOUS_SERIAL_KEY]: currentSerial },
            payload: {
              $case: "certificate",
              value: certificateRecord(nodeId, cert, caFingerprint, "renewal"),
            },
          }),
      );
      this.#o.metrics.requests.inc({ rpc: "RenewCert", outcome: "ok" });
      return result;
    } catch (err) {
      await this.#refused("RenewCert", err, nodeId, undefined);
      throw err;
    }
  }

  async #sign(
    record: NodeEnrollmentRecord,
    csrDer: Uint8Array,
    entryOf: (cert: IssuedCert, caFingerprint: string) => ConfigEntry,
  ): Promise<Enrollment> {
    const csr = await checkCsr(csrDer);
    const full = `pact-service-agent/${record.nodeId}@${this.#o.domainId}`;
    if (csr.commonName !== "" && csr.commonName !== record.nodeId && csr.commonName !== full) {
      throw new EnrollmentError(
        "CSR_NODE_MISMATCH",
        "PERMISSION_DENIED",
        `CSR names ${
          JSON.stringify(csr.commonName.slice(0, 80))
        }, but this hardware is registered as node ${record.nodeId}`,
      );
    }
    const ca = await this.#o.ca.current();
    const cert = await ca.issue({
      nodeId: record.nodeId,
      domainId: this.#o.domainId,
      publicKey: csr.publicKey,
      nowMs: this.#o.clock.now(),
      lifetimeMs: this.#o.certLifetimeMs,
    });
    await this.#o.journal.append({ entry: entryOf(cert, ca.fingerprint) });
    return { nodeId: record.nodeId, vclusterId: record.vclusterId, cert, caPem: ca.certPem };
  }

  /** Journals a refusal (best effort: the caller hears the refusal either way). */
  async #refused(
    rpc: string,
    err: unknown,
    nodeId: string | undefined,
    fields: HardwareFields | undefined,
  ): Promise<void> {
    const rule = err instanceof EnrollmentError
      ? err.rule
      : isPactError(err)
      ? err.code
      : "INTERNAL";
    this.#o.metrics.requests.inc({ rpc, outcome: rule });
    if (err instanceof EnrollmentError && err.rule === "CA_UNAVAILABLE") return;
    const scope: ScopeRef = nodeId ? { kind: "node", id: nodeId } : { kind: "global" };
    const reason = isPactError(err) ? err.message : "internal error";
    try {
      await this.#o.journal.append({
        entry: ConfigEntry.fromPartial({
          entryType: EntryType.ENROLLMENT_REFUSED,
          scope: toProtoScope(scope),
          author: nodeAuthor(nodeId ?? "unknown"),
          message: `${rpc} refused: ${reason}`.slice(0, 4096),
          metadata: { rule },
          payload: {
            $case: "enrollment",
            value: {
              nodeId: nodeId ?? "",
              domainId: this.#o.domainId,
              hardware: fields && hardwareIdentityOf(fields),
            },
          },
        }),
      });
    } catch (appendErr) {
      log.warn("Cannot journal the refused {rpc}: {error}", {
        rpc,
        error: (appendErr as Error).message,
      });
    }
  }
}

/** The registration the presented hardware belongs to; refuses unknown, revoked and ambiguous hardware. */
function findRegistration(state: JournalState, fields: HardwareFields): NodeEnrollmentRecord {
  const book = state.enrollment;
  const tokens = hardwareTokens(fields);
  const owners = new Set(
    tokens.map((t) => book.hardwareIndex.get(t)).filter((n) => n !== undefined),
  );
  if (owners.size > 1) {
    throw new EnrollmentError(
      "HARDWARE_MISMATCH",
      "PERMISSION_DENIED",
      `Presented hardware matches several registered nodes (${[...owners].sort().join(", ")})`,
    );
  }
  const [nodeId] = owners;
  const record = nodeId === undefined ? undefined : book.nodes.get(nodeId);
  if (record) return record;
  const revoked = book.nodes.find((r) =>
    r.state === EnrollmentState.REVOKED &&
    hardwareTokens(r.hardware).some((t) => tokens.includes(t))
  );
  if (revoked) {
    throw new EnrollmentError(
      "NODE_REVOKED",
      "PERMISSION_DENIED",
      `Node ${revoked.nodeId} is decommissioned (revoked): an admin must register it again`,
    );
  }
  throw new EnrollmentError(
    "NODE_NOT_ENROLLED",
    "NOT_FOUND",
    `Hardware ${
      describeHardware(fields)
    } is not registered: pact enroll <node> --hardware-id <id> first`,
  );
}

function checkEnrollable(
  state: JournalState,
  record: NodeEnrollmentRecord,
  fields: HardwareFields,
): void {
  const mismatched = hardwareMismatches(record.hardware, fields);
  if (mismatched.length > 0) {
    throw new EnrollmentError(
      "HARDWARE_MISMATCH",
      "PERMISSION_DENIED",
      `Hardware identity does not match the registration of node ${record.nodeId}: ${
        mismatched.join(", ")
      } differ${mismatched.length === 1 ? "s" : ""}`,
    );
  }
  if (record.state === EnrollmentState.ACTIVE && !issuedByOldCa(state.enrollment, record)) {
    throw new EnrollmentError(
      "ALREADY_ACTIVE",
      "VALIDATION",
      `Node ${record.nodeId} is already active: a second enrollment is refused (decommission and register it again if its hardware was replaced)`,
    );
  }
}

function certificateRecord(
  nodeId: string,
  cert: IssuedCert,
  caFingerprint: string,
  reason = "enrollment",
) {
  return {
    nodeId,
    serial: cert.serial,
    notBefore: new Date(cert.notBeforeMs),
    notAfter: new Date(cert.notAfterMs),
    reason,
    caFingerprint,
  };
}

function nodeAuthor(nodeId: string): Identity {
  return { principal: `node/${nodeId}`, principalType: PrincipalType.AGENT, role: SERVICE_AGENT };
}
