/**
 * The overlay's wire encoding: a canonical DeclaredState, protobuf-encoded
 * and compressed with zstd at a fixed level, so that every replica produces
 * the same bytes for the same declared state. Also decodes the overlays that
 * OVERLAY_UPDATE entries carry (`identity`, `gzip` or `zstd`).
 */
import { promisify } from "node:util";
import {
  constants,
  gunzipSync,
  zstdCompress,
  zstdCompressSync,
  zstdDecompressSync,
} from "node:zlib";
import { type BootOverlay, DeclaredState } from "../../shared/proto/gen/pact/config/config.ts";
import { sha256Hex } from "../../shared/hash.ts";
import { PactError } from "../../shared/errors/mod.ts";

/** The `encoding` of every overlay the journal serves. */
export const OVERLAY_ENCODING = "zstd";
/** zstd level: the reference's choice, fast to compress and to inflate at boot. */
export const OVERLAY_ZSTD_LEVEL = 3;
/** Largest decoded overlay the journal builds or inflates (64 MiB). */
export const OVERLAY_CONTENT_BYTES_MAX = 64 * 1024 * 1024;

/** An overlay ready to serve: compressed bytes plus checksums of both forms. */
export interface CompressedOverlay {
  readonly data: Uint8Array;
  /** Lowercase hex SHA-256 of `data`. */
  readonly checksum: string;
  readonly contentBytes: number;
  /** Lowercase hex SHA-256 of the encoded DeclaredState. */
  readonly contentChecksum: string;
}

const zstdCompressAsync = promisify(zstdCompress);
const zstdParams = { params: { [constants.ZSTD_c_compressionLevel]: OVERLAY_ZSTD_LEVEL } };

/**
 * Encodes and compresses `declared`, which must already be canonical
 * (see `canonicalDeclared`). Compression runs off the event loop.
 */
export async function compressOverlay(declared: DeclaredState): Promise<CompressedOverlay> {
  const content = DeclaredState.encode(declared).finish();
  if (content.length > OVERLAY_CONTENT_BYTES_MAX) {
    throw new PactError(
      "RESOURCE_EXHAUSTED",
      `Cannot build overlay: it encodes to ${content.length} bytes, more than ${OVERLAY_CONTENT_BYTES_MAX}`,
    );
  }
  const data = new Uint8Array(await zstdCompressAsync(content, zstdParams));
  return {
    data,
    checksum: sha256Hex(data),
    contentBytes: content.length,
    contentChecksum: sha256Hex(content),
  };
}

/** Synchronous `compressOverlay` for tests and tools; same bytes. */
export function compressOverlaySync(declared: DeclaredState): CompressedOverlay {
  const content = DeclaredState.encode(declared).finish();
  const data = new Uint8Array(zstdCompressSync(content, zstdParams));
  return {
    data,
    checksum: sha256Hex(data),
    contentBytes: content.length,
    contentChecksum: sha256Hex(content),
  };
}

/** Inflates `data` as `encoding` says, refusing more than `maxBytes` of output. */
export function decompress(data: Uint8Array, encoding: string, maxBytes: number): Uint8Array {
  try {
    switch (encoding) {
      case "":
      case "identity":
        if (data.length > maxBytes) throw new RangeError(`${data.length} bytes`);
        return data;
      case "gzip":
        return new Uint8Array(gunzipSync(data, { maxOutputLength: maxBytes }));
      case "zstd":
        return new Uint8Array(zstdDecompressSync(data, { maxOutputLength: maxBytes }));
    }
  } catch (err) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Cannot decompress ${encoding} overlay: ${(err as Error).message}`,
      { cause: err },
    );
  }
  throw new PactError(
    "INVALID_ARGUMENT",
    `Cannot decompress overlay: unknown encoding ${JSON.stringify(encoding)}`,
  );
}

/** The DeclaredState an OVERLAY_UPDATE entry carries. */
export function decodeBootOverlay(overlay: BootOverlay): DeclaredState {
  const content = decompress(overlay.data, overlay.encoding, OVERLAY_CONTENT_BYTES_MAX);
  try {
    return DeclaredState.decode(content);
  } catch (err) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Cannot decode overlay of vCluster ${overlay.vclusterId}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}
