/**
 * The journal's EnrollmentService: the node registry (register, batch,
 * decommission, assign/unassign/move, list, inspect), CSR signing (Enroll,
 * RenewCert) and the CA bundle. Enroll is the only RPC without a token; it
 * is rate-limited (global token bucket) instead.
 */
import type {
  BatchRegisterResult,
  EnrollmentServiceServer,
  NodeEnrollment,
  RegisterNodeRequest,
  RegisterNodeResponse,
} from "../../shared/proto/gen/pact/enrollment/enrollment.ts";
import {
  ConfigEntry,
  EnrollmentState,
  EntryType,
  type HardwareIdentity,
} from "../../shared/proto/gen/pact/config/config.ts";
import type { Principal } from "../../shared/auth/principal.ts";
import { hardwareFields, hardwareIdentityOf } from "../../shared/domain/hardware_identity.ts";
import { parseRole } from "../../shared/domain/roles.ts";
import { checkId, toProtoScope } from "../../shared/domain/scope.ts";
import { isPactError, PactError } from "../../shared/errors/mod.ts";
import type { CaKeeper } from "../ca/ca_keeper.ts";
import type { Enroller, Enrollment } from "../ca/enroller.ts";
import type { EnrollmentMetrics } from "../ca/enrollment_metrics.ts";
import type { RateLimiter } from "../ca/rate_limiter.ts";
import type { Journal } from "../core/journal.ts";
import type { PolicyEngine } from "../policy/engine.ts";
import { EnrollmentError, type NodeEnrollmentRecord } from "../state/enrollments.ts";
import type { JournalState } from "../state/state.ts";
import { authorizeCustomRead, denialError } from "./authz.ts";
import { anonymousUnary, type HandlerDeps, requireNodeCaller, unary } from "./handlers.ts";
import { identityOf } from "./identity.ts";

/** What the EnrollmentService needs. */
export interface EnrollmentServiceDeps extends HandlerDeps {
  readonly journal: Journal;
  readonly policy: PolicyEngine;
  readonly enrollment: {
    readonly domainId: string;
    readonly ca: CaKeeper;
    readonly enroller: Enroller;
    readonly limiter: RateLimiter;
    readonly metrics: EnrollmentMetrics;
  };
}

/** Most nodes one BatchRegisterNodes call registers. */
export const BATCH_NODES_MAX = 10_000;

/** The journal's EnrollmentService handlers. */
export function enrollmentService(deps: EnrollmentServiceDeps): EnrollmentServiceServer {
  const { journal } = deps;
  const { enroller, limiter, domainId } = deps.enrollment;
  return {
    enroll: anonymousUnary(deps, "Enroll", async (request) => {
      if (!limiter.tryTake()) {
        deps.enrollment.metrics.rateLimited.inc();
        const error = new EnrollmentError(
          "RATE_LIMITED",
          "RESOURCE_EXHAUSTED",
          `Enrollment rate limit reached (${limiter.perMinute}/min): retry later`,
        );
        throw Object.assign(error, { retryAfterMs: limiter.retryAfterMs() });
      }
      const result = await enroller.enroll(request.hardwareIdentity, request.csrDer);
      return {
        ...certFields(result),
        nodeId: result.nodeId,
        domainId,
        vclusterId: result.vclusterId,
      };
    }),

    renewCert: unary(deps, "RenewCert", async (request, context) => {
      const { principal, machine } = context;
      const nodeId = checkId("node", request.nodeId);
      requireNodeCaller(deps, context, nodeId, "RenewCert");
      const role = parseRole(principal.role).kind;
      if (role !== "service-agent" && role !== "platform-admin") {
        throw new PactError(
          "PERMISSION_DENIED",
          `Permission denied for ${principal.principal}: RenewCert needs pact-service-agent`,
        );
      }
      // Over mTLS the certificate presented is the one being renewed.
      const serial = machine ? machine.serial : request.currentSerial;
      if (machine && request.currentSerial !== "" && request.currentSerial !== machine.serial) {
        throw new EnrollmentError(
          "SERIAL_MISMATCH",
          "PERMISSION_DENIED",
          `Cannot renew serial ${request.currentSerial}: the client certificate presented is ${machine.serial}`,
        );
      }
      const result = await enroller.renew(nodeId, serial, request.csrDer);
      return certFields(result);
    }),

    registerNode: unary(deps, "RegisterNode", async (request, { principal }) => {
      return await register(deps, principal, request);
    }),

    batchRegisterNodes: unary(deps, "BatchRegisterNodes", async (request, { principal }) => {
      if (request.nodes.length > BATCH_NODES_MAX) {
        throw new PactError(
          "INVALID_ARGUMENT",
          `Too many nodes in one batch: ${request.nodes.length} exceeds ${BATCH_NODES_MAX}`,
        );
      }
      const results: BatchRegisterResult[] = [];
      for (const node of request.nodes) {
        try {
          const done = await register(deps, principal, node);
          results.push({ nodeId: node.nodeId, success: true, state: done.state, error: "" });
        } catch (err) {
          // Permission problems concern the whole batch: report them once.
          if (isPactError(err, "PERMISSION_DENIED", "POLICY_DENIED")) throw err;
          if (!isPactError(err)) throw err;
          results.push({
            nodeId: node.nodeId,
            success: false,
            state: journal.state.enrollment.nodes.get(node.nodeId)?.state ??
              EnrollmentState.UNSPECIFIED,
            error: err.message,
          });
        }
      }
      const succeeded = results.filter((r) => r.success).length;
      return { results, succeeded, failed: results.length - succeeded };
    }),

    decommissionNode: unary(deps, "DecommissionNode", async (request, { principal }) => {
      const record = await authorizedRecord(deps, principal, request.nodeId);
      await append(deps, principal, EntryType.NODE_DECOMMISSIONED, record.nodeId, {
        nodeId: record.nodeId,
        force: request.force,
      }, `decommissioned${request.force ? " (forced)" : ""}; certificate revoked`);
      return {
        state: EnrollmentState.REVOKED,
        sessionsTerminated: 0,
        revokedSerial: record.certSerial,
      };
    }),

    assignNode: unary(deps, "AssignNode", async (request, { principal }) => {
      const record = await authorizedRecord(deps, principal, request.nodeId);
      const vclusterId = checkId("vcluster", request.vclusterId);
      const sequence = await append(deps, principal, EntryType.NODE_ASSIGNED, record.nodeId, {
        nodeId: record.nodeId,
        vclusterId,
      }, `assigned to vCluster ${vclusterId}`);
      return { nodeId: record.nodeId, vclusterId, sequence };
    }),

    unassignNode: unary(deps, "UnassignNode", async (request, { principal }) => {
      const record = await authorizedRecord(deps, principal, request.nodeId);
      const sequence = await append(deps, principal, EntryType.NODE_UNASSIGNED, record.nodeId, {
        nodeId: record.nodeId,
        fromVclusterId: record.vclusterId,
      }, `unassigned from vCluster ${record.vclusterId || "(none)"} (maintenance mode)`);
      return { nodeId: record.nodeId, vclusterId: "", sequence };
    }),

    moveNode: unary(deps, "MoveNode", async (request, { principal }) => {
      const record = await authorizedRecord(deps, principal, request.nodeId);
      const to = checkId("vcluster", request.toVclusterId);
      if (to === record.vclusterId) {
        throw new PactError(
          "INVALID_ARGUMENT",
          `Node ${record.nodeId} is already in vCluster ${to}`,
        );
      }
      const sequence = await append(deps, principal, EntryType.NODE_MOVED, record.nodeId, {
        nodeId: record.nodeId,
        vclusterId: to,
        fromVclusterId: record.vclusterId,
      }, `moved from vCluster ${record.vclusterId || "(none)"} to ${to}`);
      return {
        nodeId: record.nodeId,
        fromVclusterId: record.vclusterId,
        toVclusterId: to,
        sequence,
      };
    }),

    listNodes: unary(deps, "ListNodes", async (request, { principal }) => {
      await authorizeCustomRead(deps.policy, journal.state, principal);
      const visible = visibility(principal);
      const nodes = [...journal.state.enrollment.nodes.values()]
        .filter(visible)
        .filter((n) => request.state === EnrollmentState.UNSPECIFIED || n.state === request.state)
        .filter((n) => request.vclusterId === "" || n.vclusterId === request.vclusterId)
        .filter((n) => !request.unassigned || n.vclusterId === "")
        .sort((a, b) => a.nodeId.localeCompare(b.nodeId))
        .map((n) => nodeEnrollmentOf(n, shellAddressOf(journal.state, n.nodeId)));
      return { nodes };
    }),

    inspectNode: unary(deps, "InspectNode", async (request, { principal }) => {
      await authorizeCustomRead(deps.policy, journal.state, principal);
      const record = journal.state.enrollment.nodes.get(request.nodeId);
      if (!record || !visibility(principal)(record)) throw notRegistered(request.nodeId);
      return nodeEnrollmentOf(record, shellAddressOf(journal.state, record.nodeId));
    }),

    getCaBundle: unary(deps, "GetCaBundle", async (_request, { principal }) => {
      await authorizeCustomRead(deps.policy, journal.state, principal);
      const ca = await deps.enrollment.ca.current();
      return { caPem: ca.certPem, fingerprintSha256: ca.fingerprint };
    }),
  };
}

async function register(
  deps: EnrollmentServiceDeps,
  principal: Principal,
  request: RegisterNodeRequest,
): Promise<RegisterNodeResponse> {
  const nodeId = checkId("node", request.nodeId);
  await authorize(deps, principal, nodeId);
  const fields = hardwareFields(request.hardwareIdentity);
  const vclusterId = request.vclusterId === "" ? "" : checkId("vcluster", request.vclusterId);
  const sequence = await append(deps, principal, EntryType.NODE_REGISTERED, nodeId, {
    nodeId,
    domainId: deps.enrollment.domainId,
    hardware: hardwareIdentityOf(fields),
    vclusterId,
  }, `registered${vclusterId ? ` in vCluster ${vclusterId}` : ""}`);
  return { nodeId, state: EnrollmentState.REGISTERED, sequence };
}

/** Enrollment changes are platform-admin operations (RBAC action `enroll`). */
async function authorize(
  deps: EnrollmentServiceDeps,
  principal: Principal,
  nodeId: string,
): Promise<void> {
  const decision = await deps.policy.authorize(deps.journal.state, {
    principal,
    action: "enroll",
    scope: { kind: "node", id: nodeId },
  });
  if (decision.kind === "deny") throw denialError(principal, "enroll", decision);
}

async function authorizedRecord(
  deps: EnrollmentServiceDeps,
  principal: Principal,
  nodeIdText: string,
): Promise<NodeEnrollmentRecord> {
  const nodeId = checkId("node", nodeIdText);
  await authorize(deps, principal, nodeId);
  const record = deps.journal.state.enrollment.nodes.get(nodeId);
  if (!record) throw notRegistered(nodeId);
  return record;
}

async function append(
  deps: EnrollmentServiceDeps,
  principal: Principal,
  entryType: EntryType,
  nodeId: string,
  enrollment: Partial<{
    nodeId: string;
    domainId: string;
    hardware: HardwareIdentity;
    vclusterId: string;
    fromVclusterId: string;
    force: boolean;
  }>,
  message: string,
): Promise<number> {
  const result = await deps.journal.append({
    entry: ConfigEntry.fromPartial({
      entryType,
      scope: toProtoScope({ kind: "node", id: nodeId }),
      author: identityOf(principal),
      policyRef: "rbac:platform-admin:enroll",
      message,
      payload: { $case: "enrollment", value: enrollment },
    }),
  });
  return result.sequence;
}

/** Platform admins and service roles see every node; vCluster roles their vCluster's only. */
function visibility(principal: Principal): (record: NodeEnrollmentRecord) => boolean {
  const role = parseRole(principal.role);
  switch (role.kind) {
    case "ops":
    case "viewer":
    case "regulated":
      return (record) => record.vclusterId === role.vcluster;
    default:
      return () => true;
  }
}

function notRegistered(nodeId: string): PactError {
  return new EnrollmentError(
    "NODE_NOT_ENROLLED",
    "NOT_FOUND",
    `Node ${nodeId} is not registered: pact node list shows the registry`,
  );
}

function certFields(result: Enrollment) {
  return {
    certPem: result.cert.certPem,
    caChainPem: result.caPem,
    certSerial: result.cert.serial,
    certExpiresAt: new Date(result.cert.notAfterMs),
  };
}

/** Where the node's agent last said its shell server listens; "" when it never did. */
function shellAddressOf(state: JournalState, nodeId: string): string {
  return state.nodes.get(nodeId)?.lastBoot?.shellAddress ?? "";
}

/** The wire view of a registration (with the agent's shell address, when known). */
export function nodeEnrollmentOf(record: NodeEnrollmentRecord, shellAddress = ""): NodeEnrollment {
  return {
    nodeId: record.nodeId,
    domainId: record.domainId,
    state: record.state,
    hardwareIdentity: hardwareIdentityOf(record.hardware),
    vclusterId: record.vclusterId,
    certSerial: record.certSerial,
    certExpiresAt: record.certNotAfterMs === undefined
      ? undefined
      : new Date(record.certNotAfterMs),
    lastSeen: record.lastSeenMs === undefined ? undefined : new Date(record.lastSeenMs),
    enrolledAt: new Date(record.enrolledAtMs),
    enrolledBy: record.enrolledBy,
    activeSessions: 0,
    shellAddress,
  };
}
