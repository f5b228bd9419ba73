/**
 * A boot config as the journal streams it, checked before anything is
 * applied: overlay chunks in order and complete, the compressed overlay's
 * SHA-256, its inflated length and SHA-256, the node delta's SHA-256, then
 * both decoded. The same checks run on a config read back from the cache,
 * so a damaged cache is refused like a damaged stream.
 */
import { type ConfigEntry, DeclaredState } from "../../shared/proto/gen/pact/config/config.ts";
import {
  type BootConfigChunk,
  type ConfigComplete,
  NodeDeltaEntries,
  type OverlayChunk,
} from "../../shared/proto/gen/pact/stream/stream.ts";
import { sha256Hex } from "../../shared/hash.ts";
import { decompress, OVERLAY_CONTENT_BYTES_MAX } from "../../journal/boot/overlay_codec.ts";
import { corrupt } from "./boot_error.ts";

/** Most overlay chunks one stream may carry (64 MiB of 64 KiB chunks). */
export const OVERLAY_CHUNKS_MAX = 1024;

/** A verified, decoded boot config. */
export interface BootConfig {
  /** The messages as received: what the cache keeps. */
  readonly messages: readonly BootConfigChunk[];
  readonly complete: ConfigComplete;
  /** The vCluster overlay; undefined for an unassigned node. */
  readonly overlay: DeclaredState | undefined;
  /** The node's committed changes, oldest first. */
  readonly nodeDelta: readonly ConfigEntry[];
}

/**
 * Checks and decodes the messages of one boot stream. `source` names
 * where they came from (an endpoint or the cache file) in error messages.
 */
export function verifyBootConfig(messages: readonly BootConfigChunk[], source: string): BootConfig {
  const chunks: OverlayChunk[] = [];
  let delta: { data: Uint8Array; checksum: string } | undefined;
  let complete: ConfigComplete | undefined;
  for (const message of messages) {
    const chunk = message.chunk;
    if (complete !== undefined) {
      throw corrupt(`Refused boot config from ${source}: data after the completion marker`);
    }
    if (chunk?.$case === "overlay") {
      if (delta !== undefined) {
        throw corrupt(`Refused boot config from ${source}: overlay chunk after the node delta`);
      }
      if (chunk.value.chunkIndex !== chunks.length || chunks.length >= OVERLAY_CHUNKS_MAX) {
        throw corrupt(
          `Refused boot config from ${source}: overlay chunk ${chunk.value.chunkIndex} arrived as number ${chunks.length}`,
        );
      }
      chunks.push(chunk.value);
    } else if (chunk?.$case === "nodeDelta") {
      if (delta !== undefined) throw corrupt(`Refused boot config from ${source}: two node deltas`);
      delta = chunk.value;
    } else if (chunk?.$case === "complete") {
      complete = chunk.value;
    } else {
      throw corrupt(`Refused boot config from ${source}: empty message`);
    }
  }
  if (complete === undefined) {
    throw corrupt(
      `Refused boot config from ${source}: the stream ended without a completion marker`,
    );
  }
  return {
    messages,
    complete,
    overlay: chunks.length === 0 ? undefined : overlayOf(chunks, source),
    nodeDelta: delta === undefined ? [] : nodeDeltaOf(delta, source),
  };
}

function overlayOf(chunks: readonly OverlayChunk[], source: string): DeclaredState {
  const first = chunks[0]!;
  if (chunks.length !== first.totalChunks) {
    throw corrupt(
      `Refused boot config from ${source}: got ${chunks.length} of ${first.totalChunks} overlay chunks`,
    );
  }
  for (const c of chunks) {
    if (c.checksum !== first.checksum || c.totalChunks !== first.totalChunks) {
      throw corrupt(
        `Refused boot config from ${source}: overlay chunks disagree on their checksum`,
      );
    }
  }
  const data = concat(chunks.map((c) => c.data));
  const actual = sha256Hex(data);
  if (actual !== first.checksum) {
    throw corrupt(
      `Refused boot config from ${source}: overlay checksum mismatch: expected ${
        short(first.checksum)
      }, got ${short(actual)}`,
    );
  }
  if (first.contentBytes > OVERLAY_CONTENT_BYTES_MAX) {
    throw corrupt(
      `Refused boot config from ${source}: overlay claims ${first.contentBytes} bytes, more than ${OVERLAY_CONTENT_BYTES_MAX}`,
    );
  }
  let content: Uint8Array;
  try {
    content = decompress(data, first.encoding, Math.max(1, first.contentBytes));
  } catch (err) {
    throw corrupt(`Refused boot config from ${source}: ${(err as Error).message}`);
  }
  if (content.length !== first.contentBytes) {
    throw corrupt(
      `Refused boot config from ${source}: overlay inflates to ${content.length} bytes, expected ${first.contentBytes}`,
    );
  }
  const contentSum = sha256Hex(content);
  if (first.contentChecksum !== "" && contentSum !== first.contentChecksum) {
    throw corrupt(
      `Refused boot config from ${source}: overlay content checksum mismatch: expected ${
        short(first.contentChecksum)
      }, got ${short(contentSum)}`,
    );
  }
  try {
    return DeclaredState.decode(content);
  } catch (err) {
    throw corrupt(
      `Refused boot config from ${source}: overlay does not decode: ${(err as Error).message}`,
    );
  }
}

function nodeDeltaOf(delta: { data: Uint8Array; checksum: string }, source: string): ConfigEntry[] {
  const actual = sha256Hex(delta.data);
  if (actual !== delta.checksum) {
    throw corrupt(
      `Refused boot config from ${source}: node delta checksum mismatch: expected ${
        short(delta.checksum)
      }, got ${short(actual)}`,
    );
  }
  try {
    return NodeDeltaEntries.decode(delta.data).entries;
  } catch (err) {
    throw corrupt(
      `Refused boot config from ${source}: node delta does not decode: ${(err as Error).message}`,
    );
  }
}

/** The first 12 hex digits: enough to tell two checksums apart in a message. */
function short(checksum: string): string {
  return checksum === "" ? "(none)" : checksum.slice(0, 12);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
