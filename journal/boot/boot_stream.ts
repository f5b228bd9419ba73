/**
 * The messages of one boot stream, from one consistent journal state:
 * phase 1 the vCluster overlay in chunks, phase 2 the node delta, then the
 * completion marker; or only the marker when the node is up to date.
 */
import type { Clock } from "../../shared/clock/clock.ts";
import { PactError } from "../../shared/errors/mod.ts";
import { sha256Hex } from "../../shared/hash.ts";
import {
  type BootConfigChunk,
  NodeDeltaEntries,
} from "../../shared/proto/gen/pact/stream/stream.ts";
import type { JournalState } from "../state/state.ts";
import type { CompiledOverlay, OverlayCache } from "./overlay_cache.ts";
import { nodeDelta } from "./node_delta.ts";

/** Largest encoded node delta sent (it travels as one message). */
export const NODE_DELTA_BYTES_MAX = 8 * 1024 * 1024;

/** What a boot stream reads. */
export interface BootStreamDeps {
  readonly journal: { readonly state: JournalState };
  readonly cache: OverlayCache;
  readonly clock: Clock;
}

/** A boot request, as parsed from the wire. */
export interface BootRequest {
  readonly nodeId: string;
  /** Empty: the vCluster the node is assigned to. */
  readonly vclusterId: string;
  readonly lastKnownVersion?: number | undefined;
}

/** Yields the messages of a boot stream for `request`. */
export async function* bootStream(
  deps: BootStreamDeps,
  request: BootRequest,
): AsyncGenerator<BootConfigChunk> {
  const state = deps.journal.state;
  const vclusterId = request.vclusterId || state.nodes.get(request.nodeId)?.vclusterId || "";
  const vcluster = vclusterId === "" ? undefined : state.vclusters.get(vclusterId);
  if (vclusterId !== "" && !vcluster) {
    throw new PactError(
      "NOT_FOUND",
      `Cannot stream boot config: vCluster ${
        JSON.stringify(vclusterId)
      } is unknown to this journal`,
    );
  }
  const overlay = vcluster ? await deps.cache.get(vclusterId, vcluster.version) : undefined;
  const delta = request.nodeId === ""
    ? undefined
    : nodeDeltaOf(deps, state, request.nodeId, overlay);
  const configVersion = maxDefined(overlay?.version, delta?.version);
  const unchanged = request.lastKnownVersion !== undefined && configVersion !== undefined &&
    request.lastKnownVersion >= configVersion;
  if (!unchanged) {
    if (overlay) yield* overlayChunks(overlay);
    if (delta) yield { chunk: { $case: "nodeDelta", value: delta.message } };
  }
  yield {
    chunk: {
      $case: "complete",
      value: {
        baseVersion: overlay?.version ?? 0,
        nodeVersion: delta?.version ?? 0,
        timestamp: new Date(deps.clock.now()),
        policy: vcluster?.policy,
        configVersion: configVersion ?? 0,
        vclusterId,
        unchanged,
      },
    },
  };
}

/**
 * The overlay's chunk messages: the same objects for every node booting
 * from this overlay, so that the transport encodes each once (see
 * isSharedMessage) rather than once per node.
 */
const overlayMessages = new WeakMap<CompiledOverlay, readonly BootConfigChunk[]>();
const sharedMessages = new WeakSet<BootConfigChunk>();

/** True for messages that every node gets unchanged: they may be encoded once and reused. */
export function isSharedMessage(message: BootConfigChunk): boolean {
  return sharedMessages.has(message);
}

function overlayChunks(overlay: CompiledOverlay): readonly BootConfigChunk[] {
  let messages = overlayMessages.get(overlay);
  if (messages) return messages;
  const totalChunks = overlay.chunks.length;
  messages = overlay.chunks.map((data, chunkIndex) => ({
    chunk: {
      $case: "overlay",
      value: {
        version: overlay.version ?? 0,
        vclusterId: overlay.vclusterId,
        data,
        chunkIndex,
        totalChunks,
        checksum: overlay.checksum,
        encoding: overlay.encoding,
        contentChecksum: overlay.contentChecksum,
        contentBytes: overlay.contentBytes,
      },
    },
  }));
  for (const message of messages) sharedMessages.add(message);
  overlayMessages.set(overlay, messages);
  return messages;
}

/** The node delta from the node's boot entries in `state`: no store read. */
function nodeDeltaOf(
  deps: BootStreamDeps,
  state: JournalState,
  nodeId: string,
  overlay: CompiledOverlay | undefined,
) {
  const entries = state.nodes.get(nodeId)?.bootEntries ?? [];
  const result = nodeDelta(entries, overlay?.keySequences ?? new Map(), deps.clock.now());
  const data = NodeDeltaEntries.encode({ entries: result.entries }).finish();
  if (data.length > NODE_DELTA_BYTES_MAX) {
    throw new PactError(
      "RESOURCE_EXHAUSTED",
      `Cannot stream boot config: node ${nodeId}'s delta is ${data.length} bytes, more than ` +
        `${NODE_DELTA_BYTES_MAX}; promote its changes into the overlay (pact promote ${nodeId})`,
    );
  }
  return {
    version: result.version,
    message: { nodeId, version: result.version ?? 0, data, checksum: sha256Hex(data) },
  };
}

function maxDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.max(a, b);
}
