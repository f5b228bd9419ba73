import { getLogger } from "@logtape/logtape";
import { Buffer } from "node:buffer";
import {
  BootConfigChunk,
  type BootConfigServiceServer,
  BootConfigServiceService,
} from "../../shared/proto/gen/pact/stream/stream.ts";
import { type Clock, systemClock } from "../../shared/clock/clock.ts";
import { fromProtoScope, type ScopeRef } from "../../shared/domain/scope.ts";
import { PactError } from "../../shared/errors/mod.ts";
import { bootStream, isSharedMessage } from "../boot/boot_stream.ts";
import { subscriptionFilter } from "../boot/config_updates.ts";
import { ByteBudget } from "../boot/byte_budget.ts";
import { OverlayCache } from "../boot/overlay_cache.ts";
import { warmOverlays } from "../boot/overlay_warmer.ts";
import { followUpdates } from "../boot/update_stream.ts";
import type { Journal } from "../core/journal.ts";
import type { NodeLiveness } from "../ca/liveness.ts";
import { parseRole } from "../../shared/domain/roles.ts";
import { authorizeRead } from "./authz.ts";
import { type HandlerDeps, requireNodeCaller, serverStream } from "./handlers.ts";

export { updateKindOf } from "../boot/config_updates.ts";
export { OVERLAY_CHUNK_BYTES } from "../boot/overlay_cache.ts";

const log = getLogger(["pact", "journal", "boot"]);

/** What the BootConfigService needs. */
export interface BootConfigServiceDeps extends HandlerDeps {
  readonly journal: Journal;
  readonly maxConcurrentBootStreams: number;
  /** How long a subscription may stay silent before it gets a heartbeat. Default 15 s. */
  readonly heartbeatMs?: number;
  /** How long one update may wait for a subscriber to read before it is cut off. Default 60 s. */
  readonly subscriberStallMs?: number;
  /** Default: the system clock. */
  readonly clock?: Clock;
  /** Counts nodes' config subscriptions (their liveness); absent: not tracked. */
  readonly liveness?: NodeLiveness | undefined;
  /** Overlay bytes boot streams may have handed to the transport at once. Default 64 MiB. */
  readonly bootBytesInFlightMax?: number;
  /** Default: a new cache over the journal, warmed as overlay entries commit. */
  readonly overlayCache?: OverlayCache;
}

/**
 * Default overlay bytes in flight: ~1,800 nodes' worth of a 36 KB overlay,
 * far more than loopback or a data-centre link drains in the time a boot
 * takes, and a bound on what a boot storm keeps in memory.
 */
export const BOOT_BYTES_IN_FLIGHT_MAX = 64 * 1024 * 1024;

/** Encoded forms of the messages every booting node gets unchanged (overlay chunks). */
const encodedShared = new WeakMap<BootConfigChunk, Buffer>();

function serializeBootChunk(message: BootConfigChunk): Buffer {
  const shared = isSharedMessage(message);
  const cached = shared ? encodedShared.get(message) : undefined;
  if (cached) return cached;
  const encoded = Buffer.from(BootConfigChunk.encode(message).finish());
  if (shared) encodedShared.set(message, encoded);
  return encoded;
}

/**
 * The BootConfigService definition to serve: the generated one, except that
 * overlay chunks are protobuf-encoded once per overlay, not once per booting
 * node (a boot storm sends the same ~40 KB to every node).
 */
export const BOOT_CONFIG_SERVICE_DEFINITION = {
  ...BootConfigServiceService,
  streamBootConfig: {
    ...BootConfigServiceService.streamBootConfig,
    responseSerialize: serializeBootChunk,
  },
} as const;

/** Shortest wait a refused boot stream is told to take. */
export const BOOT_RETRY_AFTER_MS_MIN = 1_000;
/** Refused nodes spread their retries over this much more, by node id. */
export const BOOT_RETRY_SPREAD_MS = 4_000;

/** The journal's BootConfigService handlers, served from the replica's memory and store. */
export function bootConfigService(deps: BootConfigServiceDeps): BootConfigServiceServer {
  const { journal } = deps;
  const clock = deps.clock ?? systemClock;
  const cache = deps.overlayCache ?? newWarmedCache(journal);
  const budget = new ByteBudget(deps.bootBytesInFlightMax ?? BOOT_BYTES_IN_FLIGHT_MAX);
  let activeBootStreams = 0;
  return {
    streamBootConfig: serverStream(
      deps,
      "StreamBootConfig",
      async (request, context, send) => {
        const { principal, signal } = context;
        authorizeRead(principal);
        requireNodeCaller(deps, context, request.nodeId, "StreamBootConfig");
        if (activeBootStreams >= deps.maxConcurrentBootStreams) {
          throw tooManyBootStreams(deps.maxConcurrentBootStreams, request.nodeId);
        }
        // The slot is held until the call is over, not just until the last
        // message is handed to the transport: grpc-js reports the end (as a
        // cancellation) only after the trailers went out, which the HTTP/2
        // layer sends after every message. So the cap also bounds the boot
        // bytes buffered for nodes that read slowly.
        activeBootStreams++;
        deps.metrics.bootStreamsActive.inc();
        let held = true;
        let reserved = 0;
        const release = () => {
          if (!held) return;
          held = false;
          activeBootStreams--;
          deps.metrics.bootStreamsActive.dec();
          budget.release(reserved);
        };
        if (signal.aborted) release();
        else signal.addEventListener("abort", release, { once: true });
        try {
          for await (const message of bootStream({ journal, cache, clock }, request)) {
            if (signal.aborted) return;
            if (isSharedMessage(message)) {
              // Held until the call is over, like the slot (see above).
              const bytes = serializeBootChunk(message).length;
              if (!await budget.reserve(bytes, signal)) return;
              if (held) reserved += bytes;
              else budget.release(bytes);
            }
            await send(message);
          }
        } catch (err) {
          release();
          throw err;
        }
      },
    ),

    subscribeConfigUpdates: serverStream(
      deps,
      "SubscribeConfigUpdates",
      async (request, context, send) => {
        const { principal, signal } = context;
        authorizeRead(principal);
        requireNodeCaller(deps, context, request.nodeId, "SubscribeConfigUpdates");
        // An agent's subscription is its heartbeat (Active → Inactive without one).
        const agentNode = context.machine?.nodeId ??
          (parseRole(principal.role).kind === "service-agent" && request.nodeId !== ""
            ? request.nodeId
            : undefined);
        const disconnected = agentNode === undefined
          ? undefined
          : deps.liveness?.connected(agentNode);
        const scope: ScopeRef | undefined = fromProtoScope(request.scope) ??
          (request.vclusterId && request.nodeId === ""
            ? { kind: "vcluster", id: request.vclusterId }
            : undefined);
        const from = request.fromHead ? journal.state.nextSequence : request.fromSequence;
        const filter = subscriptionFilter(
          { nodeId: request.nodeId, scope },
          () => journal.state,
        );
        try {
          await followUpdates(
            journal,
            { clock, heartbeatMs: deps.heartbeatMs, stallMs: deps.subscriberStallMs },
            from,
            filter,
            signal,
            send,
          );
        } finally {
          disconnected?.();
        }
      },
    ),
  };
}

/** RESOURCE_EXHAUSTED with a `retry-after-ms` hint that spreads nodes apart. */
function tooManyBootStreams(max: number, nodeId: string): PactError {
  const retryAfterMs = BOOT_RETRY_AFTER_MS_MIN + fnv1a(nodeId) % BOOT_RETRY_SPREAD_MS;
  return Object.assign(
    new PactError(
      "RESOURCE_EXHAUSTED",
      `Too many boot streams (${max} active): retry in ${retryAfterMs} ms or on another replica`,
    ),
    { retryAfterMs },
  );
}

/** 32-bit FNV-1a: a stable spread of node ids, not a security measure. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

function newWarmedCache(journal: Journal): OverlayCache {
  const cache = new OverlayCache(journal, {
    onBuilt: (overlay, elapsedMs) =>
      log.info(
        "Built overlay of vCluster {vcluster} at seq:{version}: {content} bytes, {bytes} compressed, in {ms} ms",
        {
          vcluster: overlay.vclusterId,
          version: overlay.version ?? "none",
          content: overlay.contentBytes,
          bytes: overlay.data.length,
          ms: Math.round(elapsedMs),
        },
      ),
    onSkipped: (vcluster, sequence, reason) =>
      log.warn("Overlay entry seq:{sequence} of vCluster {vcluster} skipped: {reason}", {
        sequence,
        vcluster,
        reason,
      }),
  });
  warmOverlays(journal, cache, (error) => log.error("Overlay build failed: {error}", { error }));
  return cache;
}
