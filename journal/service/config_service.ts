import type {
  AppendEntryRequest,
  AppendEntryResponse,
  ClusterStatus,
  ConfigServiceServer,
} from "../../shared/proto/gen/pact/journal/journal.ts";
import {
  ApprovalStatus,
  type ConfigEntry,
  ConfigState,
  type Identity,
} from "../../shared/proto/gen/pact/config/config.ts";
import type { Principal } from "../../shared/auth/principal.ts";
import { SERVICE_AGENT } from "../../shared/domain/roles.ts";
import { formatScope, fromProtoScope } from "../../shared/domain/scope.ts";
import { PactError } from "../../shared/errors/mod.ts";
import type { Journal } from "../core/journal.ts";
import type { ReadQuery } from "../store/port.ts";
import type { ApprovalDesk } from "../policy/approval_desk.ts";
import type { PolicyEngine } from "../policy/engine.ts";
import { authorizeAppend, authorizeCustomRead } from "./authz.ts";
import { type HandlerDeps, requireNodeCaller, serverStream, unary } from "./handlers.ts";
import { identityOf } from "./identity.ts";
import type { MachineIdentity } from "./peer_identity.ts";
import { nodeStateOf } from "./views.ts";

/** What the ConfigService needs. */
export interface ConfigServiceDeps extends HandlerDeps {
  readonly journal: Journal;
  /** Decides every write (RBAC, OPA, two-person approval). */
  readonly policy: PolicyEngine;
  readonly approvals: ApprovalDesk;
  readonly nodeId: string;
  readonly version: string;
  readonly startedAtMs: number;
  /** `standalone` (SQLite), `leader`/`follower` (its etcd member's Raft role) or `replica`. */
  readonly role?: () => string;
  /** The store quorum's status (etcd); absent for a single-node journal. */
  readonly clusterStatus?: () => Promise<ClusterStatus>;
  /**
   * Set on a read replica: sends a write to a writing journal of the
   * quorum with the caller's token, which that journal checks again.
   */
  readonly forwardAppend?: (
    request: AppendEntryRequest,
    token: string,
    machine?: MachineIdentity,
  ) => Promise<AppendEntryResponse>;
}

/** Most entries one ListEntries call returns. */
export const LIST_ENTRIES_MAX = 10_000;
const LIST_PAGE_ENTRIES = 500;

/** The journal's ConfigService handlers. */
export function configService(deps: ConfigServiceDeps): ConfigServiceServer {
  const { journal } = deps;
  return {
    appendEntry: unary(deps, "AppendEntry", async (request, context) => {
      const { principal, token } = context;
      if (!request.entry) throw new PactError("INVALID_ARGUMENT", "AppendEntry needs an entry");
      const scope = fromProtoScope(request.entry.scope);
      requireNodeCaller(
        deps,
        context,
        scope?.kind === "node" ? scope.id : undefined,
        "AppendEntry",
      );
      if (deps.forwardAppend) return await deps.forwardAppend(request, token, context.machine);
      const decision = await authorizeAppend(
        deps.policy,
        journal.state,
        principal,
        request.entry,
      );
      const entry = { ...stampAuthor(request.entry, principal), policyRef: decision.policyRef };
      if (decision.kind === "approval") {
        const pending = await deps.approvals.request({
          entry,
          expectedScopeVersion: request.expectedScopeVersion,
          action: decision.action,
          vclusterId: decision.vclusterId,
          timeoutSeconds: decision.timeoutSeconds,
          policyRef: decision.policyRef,
        });
        return {
          sequence: pending.sequence,
          timestamp: undefined,
          duplicate: pending.duplicate,
          pendingApprovalId: pending.approvalId,
          approvalExpiresAt: new Date(pending.expiresAtMs),
          approvalVclusterId: decision.vclusterId,
        };
      }
      const result = await journal.append({
        entry,
        expectedScopeVersion: request.expectedScopeVersion,
      });
      return {
        sequence: result.sequence,
        timestamp: result.timestampMs === undefined ? undefined : new Date(result.timestampMs),
        duplicate: result.duplicate,
        pendingApprovalId: "",
        approvalExpiresAt: undefined,
        approvalVclusterId: "",
      };
    }),

    getEntry: unary(deps, "GetEntry", async (request, { principal }) => {
      await authorizeCustomRead(deps.policy, journal.state, principal);
      const entry = await journal.getEntry(request.sequence);
      if (!entry) {
        throw new PactError(
          "NOT_FOUND",
          `Entry ${request.sequence} not found: the journal holds sequences 0..${
            journal.state.nextSequence - 1
          }`,
        );
      }
      return entry;
    }),

    listEntries: serverStream(deps, "ListEntries", async (request, { principal, signal }, send) => {
      await authorizeCustomRead(deps.policy, journal.state, principal);
      const limit = Math.min(request.limit || LIST_ENTRIES_MAX, LIST_ENTRIES_MAX);
      const scope = fromProtoScope(request.scope);
      let query: ReadQuery = {
        limit: Math.min(limit, LIST_PAGE_ENTRIES),
        newestFirst: request.newestFirst,
        ...(request.fromSequence !== undefined ? { fromSequence: request.fromSequence } : {}),
        ...(request.toSequence !== undefined ? { toSequence: request.toSequence } : {}),
        ...(scope ? { scope: formatScope(scope) } : {}),
        ...(request.entryTypes.length > 0 ? { entryTypes: request.entryTypes } : {}),
      };
      let sent = 0;
      while (sent < limit && !signal.aborted) {
        const page = await journal.read({
          ...query,
          limit: Math.min(LIST_PAGE_ENTRIES, limit - sent),
        });
        for (const entry of page) await send(entry);
        sent += page.length;
        if (page.length < query.limit) break;
        const last = page[page.length - 1]!.sequence;
        query = request.newestFirst
          ? { ...query, toSequence: last - 1 }
          : { ...query, fromSequence: last + 1 };
      }
    }),

    getNodeState: unary(deps, "GetNodeState", async (request, { principal }) => {
      await authorizeCustomRead(deps.policy, journal.state, principal);
      const node = journal.state.nodes.get(request.nodeId);
      if (!node) {
        throw new PactError(
          "NOT_FOUND",
          `Node ${request.nodeId} not found: the journal has no entries for it`,
        );
      }
      return nodeStateOf(node);
    }),

    listNodeStates: unary(deps, "ListNodeStates", async (request, { principal }) => {
      await authorizeCustomRead(deps.policy, journal.state, principal);
      const nodes = [...journal.state.nodes.values()]
        .filter((n) => request.vclusterId === "" || n.vclusterId === request.vclusterId)
        .sort((a, b) => a.nodeId.localeCompare(b.nodeId))
        .map(nodeStateOf);
      return { nodes };
    }),

    getOverlay: unary(deps, "GetOverlay", async (request, { principal }) => {
      await authorizeCustomRead(deps.policy, journal.state, principal);
      const overlay = journal.state.vclusters.get(request.vclusterId)?.overlay;
      if (!overlay) {
        throw new PactError("NOT_FOUND", `No overlay for vCluster ${request.vclusterId}`);
      }
      return overlay;
    }),

    getJournalStatus: unary(deps, "GetJournalStatus", async (_request, { principal }) => {
      await authorizeCustomRead(deps.policy, journal.state, principal);
      const state = journal.state;
      return ({
        nextSequence: state.nextSequence,
        entries: state.nextSequence,
        store: journal.storeKind,
        role: deps.role?.() ?? "standalone",
        nodeId: deps.nodeId,
        version: deps.version,
        startedAt: new Date(deps.startedAtMs),
        nodes: state.nodes.size,
        vclusters: state.vclusters.size,
        snapshotSequence: journal.snapshotSequence,
        pendingApprovals: state.approvals.count((a) => a.status === ApprovalStatus.PENDING),
        activeEmergencies: state.nodes.count((n) => n.configState === ConfigState.EMERGENCY),
        ...policyStatusFields(deps.policy),
      });
    }),

    getClusterStatus: unary(deps, "GetClusterStatus", async (_request, { principal }) => {
      await authorizeCustomRead(deps.policy, journal.state, principal);
      if (deps.clusterStatus) return await deps.clusterStatus();
      return standaloneStatus(deps);
    }),
  };
}

/** A single-node journal: its SQLite store is the whole "cluster". */
function standaloneStatus(deps: ConfigServiceDeps): ClusterStatus {
  return {
    store: deps.journal.storeKind,
    nodeId: deps.nodeId,
    role: deps.role?.() ?? "standalone",
    leaderMemberId: "",
    raftTerm: 0,
    raftIndex: 0,
    members: [],
    alarms: [],
    nextSequence: deps.journal.state.nextSequence,
    lastCompaction: undefined,
    lastDefrag: undefined,
    writable: true,
  };
}

/**
 * The journal records who wrote an entry from the caller's token. Agents
 * (role `pact-service-agent`) may record on behalf of the admin whose
 * exec or shell command they ran, so their own author field is kept.
 */
function stampAuthor(entry: ConfigEntry, principal: Principal): ConfigEntry {
  const onBehalf = principal.role === SERVICE_AGENT && entry.author !== undefined;
  const author: Identity = onBehalf ? entry.author! : identityOf(principal);
  return { ...entry, author };
}

function policyStatusFields(policy: PolicyEngine) {
  const status = policy.status();
  return {
    policyEngine: status.engine,
    policyDegraded: status.degraded,
    policyDegradedReason: status.reason,
    policyDegradedSince: status.sinceMs === undefined ? undefined : new Date(status.sinceMs),
  };
}
