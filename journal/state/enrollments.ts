/**
 * The enrollment registry inside the journal state (reference §2.10, §3.9):
 * which nodes are registered with which hardware, their certificate, the
 * revoked serials and the CA. Pure: checks and folds sequenced entries.
 *
 *                 first Enroll, hardware matches
 *   ┌────────────┐ ───────────────────────────▶ ┌────────┐
 *   │ Registered │                              │ Active │ ◀─┐ RenewCert
 *   └────────────┘          ┌──────────┐ ◀───── └────────┘ ──┘
 *         │                 │ Inactive │  heartbeat timeout
 *         │                 └──────────┘ ─────▶ (Enroll again: Active)
 *         │  decommission        │ decommission       │ decommission
 *         ▼                      ▼                    ▼
 *   ┌──────────────────────────────────────────────────────┐
 *   │ Revoked (final; the node returns only by a new registration) │
 *   └──────────────────────────────────────────────────────┘
 */
import { Map as IMap, Set as ISet } from "immutable";
import {
  type ConfigEntry,
  EnrollmentState,
  EntryType,
} from "../../shared/proto/gen/pact/config/config.ts";
import {
  type HardwareFields,
  hardwareFields,
  hardwareTokens,
} from "../../shared/domain/hardware_identity.ts";
import { fromProtoScope } from "../../shared/domain/scope.ts";
import { type ErrorCode, PactError } from "../../shared/errors/mod.ts";

/** One node's registration. Records are replaced, never mutated. */
export interface NodeEnrollmentRecord {
  readonly nodeId: string;
  readonly domainId: string;
  readonly state: EnrollmentState;
  readonly hardware: HardwareFields;
  readonly vclusterId: string;
  /** Serial of the node's current certificate ("" before the first enrollment). */
  readonly certSerial: string;
  readonly certNotAfterMs: number | undefined;
  /** SHA-256 of the CA that issued the current certificate ("" when unknown or none). */
  readonly certCaFingerprint: string;
  readonly lastSeenMs: number | undefined;
  readonly enrolledAtMs: number;
  readonly enrolledBy: string;
}

/** The CA the journal signs with, as the log last named it. */
export interface CaState {
  readonly certPem: string;
  /** PKCS#8 DER of the key for an ephemeral CA; empty for a site CA (its key stays in files). */
  readonly keyPkcs8: Uint8Array;
  readonly fingerprint: string;
  readonly source: string;
  readonly notAfterMs: number;
  /** Sequence of the CA_ROTATED entry that introduced it. */
  readonly sequence: number;
}

/** The enrollment part of the journal state. */
export interface EnrollmentBook {
  readonly nodes: IMap<string, NodeEnrollmentRecord>;
  /** Hardware token (`mac:..`, `uuid:..`, `tpm:..`) -> node id, for nodes not revoked. */
  readonly hardwareIndex: IMap<string, string>;
  readonly revokedSerials: ISet<string>;
  readonly ca: CaState | undefined;
}

/** An empty registry. */
export function emptyEnrollmentBook(): EnrollmentBook {
  return { nodes: IMap(), hardwareIndex: IMap(), revokedSerials: ISet(), ca: undefined };
}

/** Metadata key of a renewal: the serial the new certificate replaces. */
export const PREVIOUS_SERIAL_KEY = "pact.previous_serial";

/** Why an enrollment operation was refused; stable, so that clients and tests switch on it. */
export type EnrollmentRule =
  | "NODE_NOT_ENROLLED"
  | "NODE_ALREADY_ENROLLED"
  | "HARDWARE_IDENTITY_CONFLICT"
  | "HARDWARE_MISMATCH"
  | "ALREADY_ACTIVE"
  | "NODE_REVOKED"
  | "NOT_ACTIVE"
  | "SERIAL_MISMATCH"
  | "CSR_INVALID"
  | "CSR_TOO_LARGE"
  | "CSR_KEY_UNSUPPORTED"
  | "CSR_NODE_MISMATCH"
  | "CA_CHANGED"
  | "CA_UNAVAILABLE"
  | "RATE_LIMITED";

/** A refused enrollment operation; `rule` says which check failed. */
export class EnrollmentError extends PactError {
  readonly rule: EnrollmentRule;

  constructor(rule: EnrollmentRule, code: ErrorCode, message: string) {
    super(code, message);
    this.name = "EnrollmentError";
    this.rule = rule;
  }
}

const TYPES: ReadonlySet<EntryType> = new Set([
  EntryType.NODE_REGISTERED,
  EntryType.NODE_ACTIVATED,
  EntryType.NODE_DEACTIVATED,
  EntryType.NODE_DECOMMISSIONED,
  EntryType.NODE_ASSIGNED,
  EntryType.NODE_UNASSIGNED,
  EntryType.NODE_MOVED,
  EntryType.CERT_SIGNED,
  EntryType.CERT_REVOKED,
  EntryType.CA_ROTATED,
]);

/** Checks an enrollment entry against the registry; throws EnrollmentError. Pure. */
export function checkEnrollmentEntry(book: EnrollmentBook, entry: ConfigEntry): void {
  if (!TYPES.has(entry.entryType)) return;
  if (entry.entryType === EntryType.CA_ROTATED) return checkCaRotation(book, entry);
  const nodeId = nodeOf(entry);
  const record = book.nodes.get(nodeId);
  const payload = entry.payload;
  switch (entry.entryType) {
    case EntryType.NODE_REGISTERED: {
      if (record && record.state !== EnrollmentState.REVOKED) {
        throw new EnrollmentError(
          "NODE_ALREADY_ENROLLED",
          "ALREADY_EXISTS",
          `Node ${nodeId} is already registered (${stateName(record.state)})`,
        );
      }
      const fields = hardwareFields(
        payload?.$case === "enrollment" ? payload.value.hardware : undefined,
      );
      for (const token of hardwareTokens(fields)) {
        const owner = book.hardwareIndex.get(token);
        if (owner !== undefined && owner !== nodeId) {
          throw new EnrollmentError(
            "HARDWARE_IDENTITY_CONFLICT",
            "ALREADY_EXISTS",
            `Hardware ${token} is already registered to node ${owner}`,
          );
        }
      }
      return;
    }
    case EntryType.NODE_ACTIVATED:
      requireRecord(record, nodeId);
      notRevoked(record, nodeId);
      if (record.state === EnrollmentState.ACTIVE && !issuedByOldCa(book, record)) {
        throw new EnrollmentError(
          "ALREADY_ACTIVE",
          "VALIDATION",
          `Node ${nodeId} is already active: a second enrollment is refused (decommission and register it again if its hardware was replaced)`,
        );
      }
      requireSerial(entry);
      return;
    case EntryType.CERT_SIGNED: {
      requireRecord(record, nodeId);
      notRevoked(record, nodeId);
      requireSerial(entry);
      const previous = entry.metadata[PREVIOUS_SERIAL_KEY] ?? "";
      if (previous !== record.certSerial) {
        throw new EnrollmentError(
          "SERIAL_MISMATCH",
          "VALIDATION",
          `Cannot renew the certificate of node ${nodeId}: serial ${
            previous || "(none)"
          } is not its current one`,
        );
      }
      return;
    }
    case EntryType.NODE_DEACTIVATED:
      requireRecord(record, nodeId);
      if (record.state !== EnrollmentState.ACTIVE) {
        throw new EnrollmentError(
          "NOT_ACTIVE",
          "VALIDATION",
          `Node ${nodeId} is not active (${stateName(record.state)})`,
        );
      }
      return;
    case EntryType.NODE_DECOMMISSIONED:
    case EntryType.CERT_REVOKED:
      requireRecord(record, nodeId);
      notRevoked(record, nodeId);
      return;
    default:
      // Assignments of nodes that were never registered stay possible (a
      // site without enrollment); a revoked node takes none.
      if (record) notRevoked(record, nodeId);
  }
}

/**
 * True when the node's certificate was issued by a CA the log no longer
 * names: after a CA rotation an active node enrolls again (its old
 * certificate no longer authenticates it), instead of being refused as a
 * second enrollment.
 */
export function issuedByOldCa(book: EnrollmentBook, record: NodeEnrollmentRecord): boolean {
  return record.certCaFingerprint !== "" && book.ca !== undefined &&
    record.certCaFingerprint !== book.ca.fingerprint;
}

/** Folds an enrollment entry into the registry. Pure. */
export function applyEnrollmentEntry(
  book: EnrollmentBook,
  entry: ConfigEntry,
  timestampMs: number,
): EnrollmentBook {
  if (!TYPES.has(entry.entryType)) return book;
  const payload = entry.payload;
  if (entry.entryType === EntryType.CA_ROTATED) {
    if (payload?.$case !== "ca") return book;
    const ca = payload.value;
    return {
      ...book,
      ca: {
        certPem: ca.certPem,
        keyPkcs8: ca.keyPkcs8,
        fingerprint: ca.fingerprintSha256,
        source: ca.source,
        notAfterMs: ca.notAfter?.getTime() ?? 0,
        sequence: entry.sequence,
      },
    };
  }
  const nodeId = nodeOf(entry);
  const record = book.nodes.get(nodeId);
  const put = (next: NodeEnrollmentRecord): EnrollmentBook => ({
    ...book,
    nodes: book.nodes.set(nodeId, next),
  });
  const cert = payload?.$case === "certificate" ? payload.value : undefined;
  switch (entry.entryType) {
    case EntryType.NODE_REGISTERED: {
      if (payload?.$case !== "enrollment") return book;
      const hardware = hardwareFields(payload.value.hardware);
      const index = hardwareTokens(hardware).reduce(
        (map, token) => map.set(token, nodeId),
        book.hardwareIndex,
      );
      return {
        ...put({
          nodeId,
          domainId: payload.value.domainId,
          state: EnrollmentState.REGISTERED,
          hardware,
          vclusterId: payload.value.vclusterId,
          certSerial: "",
          certNotAfterMs: undefined,
          certCaFingerprint: "",
          lastSeenMs: undefined,
          enrolledAtMs: timestampMs,
          enrolledBy: entry.author?.principal ?? "",
        }),
        hardwareIndex: index,
      };
    }
    case EntryType.NODE_ACTIVATED:
    case EntryType.CERT_SIGNED:
      if (!record || !cert) return book;
      return put({
        ...record,
        state: EnrollmentState.ACTIVE,
        certSerial: cert.serial,
        certNotAfterMs: cert.notAfter?.getTime(),
        certCaFingerprint: cert.caFingerprint,
        lastSeenMs: timestampMs,
      });
    case EntryType.NODE_DEACTIVATED:
      return record ? put({ ...record, state: EnrollmentState.INACTIVE }) : book;
    case EntryType.NODE_DECOMMISSIONED:
    case EntryType.CERT_REVOKED: {
      if (!record) return book;
      const revoked = record.certSerial === ""
        ? book.revokedSerials
        : book.revokedSerials.add(record.certSerial);
      const index = hardwareTokens(record.hardware).reduce(
        (map, token) => map.get(token) === nodeId ? map.delete(token) : map,
        book.hardwareIndex,
      );
      return {
        ...put({ ...record, state: EnrollmentState.REVOKED, vclusterId: "" }),
        revokedSerials: revoked,
        hardwareIndex: index,
      };
    }
    case EntryType.NODE_ASSIGNED:
    case EntryType.NODE_MOVED:
      if (!record || payload?.$case !== "enrollment") return book;
      return put({ ...record, vclusterId: payload.value.vclusterId });
    case EntryType.NODE_UNASSIGNED:
      return record ? put({ ...record, vclusterId: "" }) : book;
    default:
      return book;
  }
}

/** The wire name of a state: `registered`, `active`, `inactive`, `revoked`. */
export function stateName(state: EnrollmentState): string {
  switch (state) {
    case EnrollmentState.REGISTERED:
      return "registered";
    case EnrollmentState.ACTIVE:
      return "active";
    case EnrollmentState.INACTIVE:
      return "inactive";
    case EnrollmentState.REVOKED:
      return "revoked";
    default:
      return "unknown";
  }
}

function checkCaRotation(book: EnrollmentBook, entry: ConfigEntry): void {
  const payload = entry.payload;
  if (payload?.$case !== "ca") return;
  const current = book.ca?.fingerprint ?? "";
  if (payload.value.previousFingerprintSha256 !== current) {
    throw new EnrollmentError(
      "CA_CHANGED",
      "CONFLICT",
      `Cannot rotate the CA: it is ${current || "(none)"} now, the rotation expected ${
        payload.value.previousFingerprintSha256 || "(none)"
      }`,
    );
  }
  if (payload.value.certPem === "" || payload.value.fingerprintSha256 === "") {
    throw new EnrollmentError("CA_UNAVAILABLE", "INVALID_ARGUMENT", "CA entry needs a certificate");
  }
}

function nodeOf(entry: ConfigEntry): string {
  const scope = fromProtoScope(entry.scope);
  return scope?.kind === "node" ? scope.id : "";
}

function requireRecord(
  record: NodeEnrollmentRecord | undefined,
  nodeId: string,
): asserts record is NodeEnrollmentRecord {
  if (!record) {
    throw new EnrollmentError(
      "NODE_NOT_ENROLLED",
      "NOT_FOUND",
      `Node ${nodeId} is not registered: pact enroll ${nodeId} --hardware-id <id> first`,
    );
  }
}

function notRevoked(record: NodeEnrollmentRecord, nodeId: string): void {
  if (record.state === EnrollmentState.REVOKED) {
    throw new EnrollmentError(
      "NODE_REVOKED",
      "PERMISSION_DENIED",
      `Node ${nodeId} is decommissioned (revoked): register it again to bring it back`,
    );
  }
}

function requireSerial(entry: ConfigEntry): void {
  const payload = entry.payload;
  if (payload?.$case !== "certificate" || payload.value.serial === "") {
    throw new EnrollmentError(
      "CSR_INVALID",
      "INVALID_ARGUMENT",
      "Certificate entry needs the issued serial",
    );
  }
}
