import { Buffer } from "node:buffer";
import { Map as IMap, OrderedMap, Set as ISet } from "immutable";
import {
  BootOverlay,
  BootRecord,
  ConfigEntry,
  Identity,
  Scope,
  VClusterPolicy,
} from "../../shared/proto/gen/pact/config/config.ts";
import type { ApprovalRecord } from "./approvals.ts";
import type { EnrollmentBook, NodeEnrollmentRecord } from "./enrollments.ts";
import { PactError } from "../../shared/errors/mod.ts";
import type { JournalState, NodeRecord, VClusterRecord } from "./state.ts";

/**
 * Format version of encoded snapshots; bump when the layout changes. 2: nodes
 * carry their boot entries. 3: two-person approvals. 4: the enrollment
 * registry and CA.
 */
const FORMAT = 4;

/** A snapshot written in another format: the journal replays the store instead. */
export class SnapshotFormatError extends PactError {
  readonly format: unknown;

  constructor(format: unknown) {
    super("INTERNAL", `Cannot decode snapshot: format is ${format}, expected ${FORMAT}`);
    this.format = format;
  }
}

interface Encodable<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(bytes: Uint8Array): T;
}

const b64 = <T>(codec: Encodable<T>, message: T | undefined): string | undefined =>
  message === undefined
    ? undefined
    : Buffer.from(codec.encode(message).finish()).toString("base64");

const unb64 = <T>(codec: Encodable<T>, text: string | undefined): T | undefined =>
  text === undefined ? undefined : codec.decode(new Uint8Array(Buffer.from(text, "base64")));

/** Encodes a state as self-describing JSON bytes. */
export function encodeSnapshot(state: JournalState): Uint8Array {
  const doc = {
    format: FORMAT,
    nextSequence: state.nextSequence,
    lastTimestampMs: state.lastTimestampMs,
    globalVersion: state.globalVersion ?? null,
    nodes: [...state.nodes.values()].map((n) => ({
      ...n,
      emergency: n.emergency && { ...n.emergency, admin: b64(Identity, n.emergency.admin) },
      lastBoot: b64(BootRecord, n.lastBoot),
      bootEntries: n.bootEntries.map((e) => b64(ConfigEntry, e)),
    })),
    vclusters: [...state.vclusters.values()].map((v) => ({
      vclusterId: v.vclusterId,
      version: v.version,
      policy: b64(VClusterPolicy, v.policy),
      overlay: b64(BootOverlay, v.overlay),
    })),
    requestIds: [...state.requestIds.entries()],
    entryCounts: [...state.entryCounts.entries()],
    approvals: [...state.approvals.values()].map((a) => ({
      ...a,
      scope: b64(Scope, a.scope),
      requester: b64(Identity, a.requester),
      approver: b64(Identity, a.approver),
      operation: Buffer.from(a.operation).toString("base64"),
      decidedAtMs: a.decidedAtMs ?? null,
      executedSequence: a.executedSequence ?? null,
      executionError: a.executionError ?? null,
      expectedScopeVersion: a.expectedScopeVersion ?? null,
    })),
    enrollment: encodeEnrollment(state.enrollment),
  };
  return new TextEncoder().encode(JSON.stringify(doc));
}

/** Decodes bytes from `encodeSnapshot`; throws PactError INTERNAL when they are not one. */
export function decodeSnapshot(bytes: Uint8Array): JournalState {
  // deno-lint-ignore no-explicit-any
  let doc: any;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new PactError("INTERNAL", "Cannot decode snapshot: not valid JSON", { cause: err });
  }
  if (doc?.format !== FORMAT) throw new SnapshotFormatError(doc?.format);
  type EncodedNode = Omit<NodeRecord, "lastBoot" | "bootEntries"> & {
    lastBoot?: string;
    bootEntries: string[];
  };
  const nodes: NodeRecord[] = doc.nodes.map((n: EncodedNode) => ({
    ...n,
    lastCommitSequence: n.lastCommitSequence ?? undefined,
    emergency: n.emergency
      ? { ...n.emergency, admin: unb64(Identity, n.emergency.admin as unknown as string) }
      : undefined,
    lastBoot: unb64(BootRecord, n.lastBoot),
    bootEntries: n.bootEntries.map((e) => unb64(ConfigEntry, e)!),
  }));
  const vclusters: VClusterRecord[] = doc.vclusters.map(
    (v: { vclusterId: string; version: number; policy?: string; overlay?: string }) => ({
      vclusterId: v.vclusterId,
      version: v.version,
      policy: unb64(VClusterPolicy, v.policy),
      overlay: unb64(BootOverlay, v.overlay),
    }),
  );
  const approvals: ApprovalRecord[] = (doc.approvals as Record<string, unknown>[]).map((a) => ({
    ...(a as unknown as ApprovalRecord),
    scope: unb64(Scope, a["scope"] as string | undefined),
    requester: unb64(Identity, a["requester"] as string)!,
    approver: unb64(Identity, a["approver"] as string | undefined),
    operation: new Uint8Array(Buffer.from(a["operation"] as string, "base64")),
    decidedAtMs: (a["decidedAtMs"] as number | null) ?? undefined,
    executedSequence: (a["executedSequence"] as number | null) ?? undefined,
    executionError: (a["executionError"] as string | null) ?? undefined,
    expectedScopeVersion: (a["expectedScopeVersion"] as number | null) ?? undefined,
  }));
  return {
    nextSequence: doc.nextSequence,
    lastTimestampMs: doc.lastTimestampMs,
    globalVersion: doc.globalVersion ?? undefined,
    nodes: IMap(nodes.map((n) => [n.nodeId, n])),
    vclusters: IMap(vclusters.map((v) => [v.vclusterId, v])),
    requestIds: OrderedMap(doc.requestIds as [string, number][]),
    entryCounts: IMap(doc.entryCounts as [number, number][]),
    approvals: IMap(approvals.map((a) => [a.approvalId, a])),
    enrollment: decodeEnrollment(doc.enrollment),
  };
}

function encodeEnrollment(book: EnrollmentBook) {
  return {
    nodes: [...book.nodes.values()].map((n) => ({
      ...n,
      certNotAfterMs: n.certNotAfterMs ?? null,
      lastSeenMs: n.lastSeenMs ?? null,
    })),
    hardwareIndex: [...book.hardwareIndex.entries()],
    revokedSerials: [...book.revokedSerials],
    ca: book.ca && { ...book.ca, keyPkcs8: Buffer.from(book.ca.keyPkcs8).toString("base64") },
  };
}

// deno-lint-ignore no-explicit-any
function decodeEnrollment(doc: any): EnrollmentBook {
  const nodes: NodeEnrollmentRecord[] = (doc.nodes as Record<string, unknown>[]).map((n) => ({
    ...(n as unknown as NodeEnrollmentRecord),
    certNotAfterMs: (n["certNotAfterMs"] as number | null) ?? undefined,
    certCaFingerprint: (n["certCaFingerprint"] as string | undefined) ?? "",
    lastSeenMs: (n["lastSeenMs"] as number | null) ?? undefined,
  }));
  return {
    nodes: IMap(nodes.map((n) => [n.nodeId, n])),
    hardwareIndex: IMap(doc.hardwareIndex as [string, string][]),
    revokedSerials: ISet(doc.revokedSerials as string[]),
    ca: doc.ca
      ? { ...doc.ca, keyPkcs8: new Uint8Array(Buffer.from(doc.ca.keyPkcs8 as string, "base64")) }
      : undefined,
  };
}
