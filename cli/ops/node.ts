/**
 * Node enrollment operations (`pact enroll`, `pact node ...`): call the
 * EnrollmentService and return plain, JSON-ready views.
 */
import { EnrollmentState } from "../../shared/proto/gen/pact/config/config.ts";
import type { NodeEnrollment } from "../../shared/proto/gen/pact/enrollment/enrollment.ts";
import { parseHardwareId } from "../../shared/domain/hardware_identity.ts";
import { checkId } from "../../shared/domain/scope.ts";
import { PactError } from "../../shared/errors/mod.ts";
import type { EnrollmentClient } from "../client/enrollment_client.ts";
import { isoSeconds } from "../output/time.ts";
import type { ImportRow } from "./node_import.ts";

/** The EnrollmentService calls operations make. */
export type EnrollmentApi = Pick<
  EnrollmentClient,
  | "registerNode"
  | "batchRegisterNodes"
  | "decommissionNode"
  | "assignNode"
  | "unassignNode"
  | "moveNode"
  | "listNodes"
  | "inspectNode"
  | "getCaBundle"
>;

/** One node of the registry. */
export interface NodeEnrollmentView {
  readonly node_id: string;
  readonly domain_id: string;
  readonly state: string;
  readonly vcluster: string;
  readonly hardware: Record<string, string>;
  readonly cert_serial: string;
  readonly cert_expires_at: string | undefined;
  readonly last_seen: string | undefined;
  readonly enrolled_at: string | undefined;
  readonly enrolled_by: string;
  readonly active_sessions: number;
}

const STATES: Record<string, EnrollmentState> = {
  registered: EnrollmentState.REGISTERED,
  active: EnrollmentState.ACTIVE,
  inactive: EnrollmentState.INACTIVE,
  revoked: EnrollmentState.REVOKED,
};

/** `registered`, `active`, `inactive` or `revoked`. */
export function enrollmentStateName(state: EnrollmentState): string {
  return Object.entries(STATES).find(([, value]) => value === state)?.[0] ?? "unknown";
}

/** The view of a wire record. */
export function nodeEnrollmentView(node: NodeEnrollment): NodeEnrollmentView {
  const hw = node.hardwareIdentity;
  const hardware: Record<string, string> = {};
  if (hw?.macAddress) hardware["mac_address"] = hw.macAddress;
  if (hw?.smbiosUuid) hardware["smbios_uuid"] = hw.smbiosUuid;
  if (hw?.tpmEkHash) hardware["tpm_ek_hash"] = hw.tpmEkHash;
  if (hw?.bmcSerial) hardware["bmc_serial"] = hw.bmcSerial;
  const time = (date: Date | undefined) => (date ? isoSeconds(date) : undefined);
  return {
    node_id: node.nodeId,
    domain_id: node.domainId,
    state: enrollmentStateName(node.state),
    vcluster: node.vclusterId,
    hardware,
    cert_serial: node.certSerial,
    cert_expires_at: time(node.certExpiresAt),
    last_seen: time(node.lastSeen),
    enrolled_at: time(node.enrolledAt),
    enrolled_by: node.enrolledBy,
    active_sessions: node.activeSessions,
  };
}

/** What `pact enroll` did. */
export interface EnrollResult {
  readonly node_id: string;
  readonly state: string;
  readonly vcluster: string;
  readonly sequence: number;
}

/** Registers one node with its expected hardware identity. */
export async function registerNode(
  api: EnrollmentApi,
  input: { nodeId: string; hardwareId: string; bmcSerial?: string; vcluster?: string },
): Promise<EnrollResult> {
  const nodeId = checkId("node", input.nodeId);
  const hardwareIdentity = parseHardwareId(input.hardwareId, input.bmcSerial ?? "");
  const vclusterId = input.vcluster ? checkId("vcluster", input.vcluster) : "";
  const done = await api.registerNode({ nodeId, hardwareIdentity, vclusterId });
  return {
    node_id: done.nodeId,
    state: enrollmentStateName(done.state),
    vcluster: vclusterId,
    sequence: done.sequence,
  };
}

/** What `pact node import` did, per node. */
export interface ImportResult {
  readonly succeeded: number;
  readonly failed: number;
  readonly results: readonly { node_id: string; ok: boolean; state: string; error?: string }[];
}

/** Registers every row of an import file (not atomic: each node on its own). */
export async function importNodes(api: EnrollmentApi, rows: ImportRow[]): Promise<ImportResult> {
  const response = await api.batchRegisterNodes(rows.map((row) => ({
    nodeId: row.nodeId,
    hardwareIdentity: row.hardware,
    vclusterId: row.vcluster,
  })));
  return {
    succeeded: response.succeeded,
    failed: response.failed,
    results: response.results.map((r) => ({
      node_id: r.nodeId,
      ok: r.success,
      state: enrollmentStateName(r.state),
      ...(r.error ? { error: r.error } : {}),
    })),
  };
}

/** Filters of `pact node list`. */
export interface ListFilter {
  readonly state?: string | undefined;
  readonly vcluster?: string | undefined;
  readonly unassigned?: boolean | undefined;
}

/** The registry, filtered. */
export async function listNodes(
  api: EnrollmentApi,
  filter: ListFilter,
): Promise<NodeEnrollmentView[]> {
  let state = EnrollmentState.UNSPECIFIED;
  if (filter.state !== undefined) {
    const known = STATES[filter.state.toLowerCase()];
    if (known === undefined) {
      throw new PactError(
        "INVALID_ARGUMENT",
        `Invalid --state ${
          JSON.stringify(filter.state)
        }: use registered, active, inactive or revoked`,
      );
    }
    state = known;
  }
  const response = await api.listNodes({
    state,
    vclusterId: filter.vcluster ? checkId("vcluster", filter.vcluster) : "",
    unassigned: filter.unassigned ?? false,
  });
  return response.nodes.map(nodeEnrollmentView);
}

/** One node's registration. */
export async function inspectNode(api: EnrollmentApi, nodeId: string) {
  return nodeEnrollmentView(await api.inspectNode(checkId("node", nodeId)));
}

/** What assign, unassign and move did. */
export interface AssignResult {
  readonly node_id: string;
  readonly from_vcluster: string;
  readonly to_vcluster: string;
  readonly sequence: number;
}

/** Assigns a node to a vCluster. */
export async function assignNode(
  api: EnrollmentApi,
  nodeId: string,
  vcluster: string,
): Promise<AssignResult> {
  const done = await api.assignNode(checkId("node", nodeId), checkId("vcluster", vcluster));
  return {
    node_id: done.nodeId,
    from_vcluster: "",
    to_vcluster: done.vclusterId,
    sequence: done.sequence,
  };
}

/** Takes a node out of its vCluster (maintenance mode). */
export async function unassignNode(api: EnrollmentApi, nodeId: string): Promise<AssignResult> {
  const done = await api.unassignNode(checkId("node", nodeId));
  return { node_id: done.nodeId, from_vcluster: "", to_vcluster: "", sequence: done.sequence };
}

/** Moves a node to another vCluster in one journal entry. */
export async function moveNode(
  api: EnrollmentApi,
  nodeId: string,
  vcluster: string,
): Promise<AssignResult> {
  const done = await api.moveNode(checkId("node", nodeId), checkId("vcluster", vcluster));
  return {
    node_id: done.nodeId,
    from_vcluster: done.fromVclusterId,
    to_vcluster: done.toVclusterId,
    sequence: done.sequence,
  };
}

/** What `pact node decommission` did. */
export interface DecommissionResult {
  readonly node_id: string;
  readonly state: string;
  readonly revoked_serial: string;
  readonly sessions_terminated: number;
}

/** Revokes a node: its certificate is refused from now on; it returns only by a new registration. */
export async function decommissionNode(
  api: EnrollmentApi,
  nodeId: string,
  force: boolean,
): Promise<DecommissionResult> {
  const id = checkId("node", nodeId);
  const done = await api.decommissionNode(id, force);
  return {
    node_id: id,
    state: enrollmentStateName(done.state),
    revoked_serial: done.revokedSerial,
    sessions_terminated: done.sessionsTerminated,
  };
}
