import {
  type BootConfigChunk,
  type BootConfigServiceServer,
  type ConfigUpdate,
  NodeDeltaEntries,
} from "../../shared/proto/gen/pact/stream/stream.ts";
import {
  type ConfigEntry,
  EntryType,
  UpdateKind,
} from "../../shared/proto/gen/pact/config/config.ts";
import { formatScope, fromProtoScope, type ScopeRef } from "../../shared/domain/scope.ts";
import { sha256Hex } from "../../shared/hash.ts";
import { PactError } from "../../shared/errors/mod.ts";
import type { Journal } from "../core/journal.ts";
import type { JournalState } from "../state/state.ts";
import { authorizeRead } from "./authz.ts";
import { type HandlerDeps, serverStream } from "./handlers.ts";

/** What the BootConfigService needs. */
export interface BootConfigServiceDeps extends HandlerDeps {
  readonly journal: Journal;
  readonly maxConcurrentBootStreams: number;
  /** How often an idle subscription gets a heartbeat. Default 15 s. */
  readonly heartbeatMs?: number;
}

/** Overlay bytes per boot-stream chunk. */
export const OVERLAY_CHUNK_BYTES = 64 * 1024;
/** Most node-delta entries sent at boot. */
const NODE_DELTA_ENTRIES_MAX = 10_000;

/** The journal's BootConfigService handlers, served from the replica's memory and store. */
export function bootConfigService(deps: BootConfigServiceDeps): BootConfigServiceServer {
  const { journal } = deps;
  let activeBootStreams = 0;
  return {
    streamBootConfig: serverStream(
      deps,
      "StreamBootConfig",
      async (request, { principal }, send) => {
        authorizeRead(principal);
        if (activeBootStreams >= deps.maxConcurrentBootStreams) {
          throw new PactError(
            "RESOURCE_EXHAUSTED",
            `Too many boot streams (${deps.maxConcurrentBootStreams}): retry on another replica`,
          );
        }
        activeBootStreams++;
        deps.metrics.bootStreamsActive.inc();
        try {
          await streamBoot(journal, request, send);
        } finally {
          activeBootStreams--;
          deps.metrics.bootStreamsActive.dec();
        }
      },
    ),

    subscribeConfigUpdates: serverStream(
      deps,
      "SubscribeConfigUpdates",
      async (request, { principal, signal }, send) => {
        authorizeRead(principal);
        const from = request.fromHead ? journal.state.nextSequence : request.fromSequence;
        const filter = subscriptionFilter(journal, request.nodeId, fromProtoScope(request.scope));
        const heartbeat = setInterval(() => {
          void send({
            sequence: journal.state.nextSequence,
            timestamp: new Date(),
            kind: UpdateKind.HEARTBEAT,
            entry: undefined,
          });
        }, deps.heartbeatMs ?? 15_000);
        try {
          for await (const entry of journal.subscribe(from, filter, signal)) {
            await send(updateOf(entry));
          }
        } finally {
          clearInterval(heartbeat);
        }
      },
    ),
  };
}

async function streamBoot(
  journal: Journal,
  request: { nodeId: string; vclusterId: string; lastKnownVersion?: number | undefined },
  send: (chunk: BootConfigChunk) => Promise<void>,
): Promise<void> {
  const state = journal.state;
  const vclusterId = request.vclusterId || state.nodes.get(request.nodeId)?.vclusterId || "";
  const vcluster = vclusterId ? state.vclusters.get(vclusterId) : undefined;
  const overlay = vcluster?.overlay;
  if (vclusterId && !overlay) {
    throw new PactError("NOT_FOUND", `No overlay for vCluster ${vclusterId}`);
  }
  if (
    overlay &&
    !(request.lastKnownVersion !== undefined && request.lastKnownVersion >= overlay.version)
  ) {
    const total = Math.max(1, Math.ceil(overlay.data.length / OVERLAY_CHUNK_BYTES));
    for (let i = 0; i < total; i++) {
      await send({
        chunk: {
          $case: "overlay",
          value: {
            version: overlay.version,
            vclusterId,
            data: overlay.data.subarray(i * OVERLAY_CHUNK_BYTES, (i + 1) * OVERLAY_CHUNK_BYTES),
            chunkIndex: i,
            totalChunks: total,
            checksum: overlay.checksum,
            encoding: overlay.encoding,
          },
        },
      });
    }
  }
  const node = state.nodes.get(request.nodeId);
  if (request.nodeId) {
    const entries = await journal.read({
      scope: formatScope({ kind: "node", id: request.nodeId }),
      entryTypes: [EntryType.COMMIT],
      toSequence: state.nextSequence - 1,
      limit: NODE_DELTA_ENTRIES_MAX,
    });
    const data = NodeDeltaEntries.encode({ entries }).finish();
    await send({
      chunk: {
        $case: "nodeDelta",
        value: {
          nodeId: request.nodeId,
          version: node?.version ?? 0,
          data,
          checksum: sha256Hex(data),
        },
      },
    });
  }
  await send({
    chunk: {
      $case: "complete",
      value: {
        baseVersion: overlay?.version ?? 0,
        nodeVersion: node?.version ?? 0,
        timestamp: new Date(),
        policy: vcluster?.policy,
      },
    },
  });
}

/**
 * Which entries a subscriber sees: a node gets its own entries, its
 * vCluster's and global ones; a watcher with a scope gets that scope;
 * a watcher without one gets everything.
 */
function subscriptionFilter(
  journal: Journal,
  nodeId: string,
  scope: ScopeRef | undefined,
): (entry: ConfigEntry) => boolean {
  if (nodeId !== "") {
    return (entry) => {
      const s = fromProtoScope(entry.scope);
      if (s?.kind === "node") return s.id === nodeId;
      if (s?.kind === "vcluster") return s.id === vclusterOf(journal.state, nodeId);
      return true;
    };
  }
  if (scope === undefined) return () => true;
  const wanted = formatScope(scope);
  return (entry) => {
    const s = fromProtoScope(entry.scope);
    if (s === undefined) return false;
    if (formatScope(s) === wanted) return true;
    // A vCluster watch also shows the entries of the vCluster's nodes.
    return scope.kind === "vcluster" && s.kind === "node" &&
      vclusterOf(journal.state, s.id) === scope.id;
  };
}

function vclusterOf(state: JournalState, nodeId: string): string | undefined {
  return state.nodes.get(nodeId)?.vclusterId || undefined;
}

/** Classifies an entry for subscribers. */
export function updateKindOf(entry: ConfigEntry): UpdateKind {
  switch (entry.entryType) {
    case EntryType.OVERLAY_UPDATE:
      return UpdateKind.OVERLAY;
    case EntryType.POLICY_UPDATE:
      return UpdateKind.POLICY;
    case EntryType.BLACKLIST_CHANGE:
      return UpdateKind.BLACKLIST;
    case EntryType.EMERGENCY_START:
    case EntryType.EMERGENCY_END:
      return UpdateKind.EMERGENCY;
    case EntryType.NODE_REGISTERED:
    case EntryType.NODE_ACTIVATED:
    case EntryType.NODE_DEACTIVATED:
    case EntryType.NODE_DECOMMISSIONED:
    case EntryType.NODE_ASSIGNED:
    case EntryType.NODE_UNASSIGNED:
    case EntryType.NODE_MOVED:
    case EntryType.CERT_SIGNED:
    case EntryType.CERT_REVOKED:
    case EntryType.CA_ROTATED:
      return UpdateKind.ENROLLMENT;
    case EntryType.COMMIT:
    case EntryType.ROLLBACK:
    case EntryType.AUTO_CONVERGE:
      return fromProtoScope(entry.scope)?.kind === "vcluster"
        ? UpdateKind.OVERLAY
        : UpdateKind.NODE_DELTA;
    default:
      return UpdateKind.AUDIT;
  }
}

function updateOf(entry: ConfigEntry): ConfigUpdate {
  return { sequence: entry.sequence, timestamp: entry.timestamp, kind: updateKindOf(entry), entry };
}
