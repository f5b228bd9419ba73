/**
 * Compiled, compressed vCluster overlays, built once per overlay version and
 * shared by every boot stream. A boot storm of thousands of nodes of one
 * vCluster waits on a single build (single flight); a change to one vCluster
 * never rebuilds another's; a vCluster change that does not touch its
 * overlay (a policy update, an audit record) is recognized by a one-row
 * read and rebuilds nothing.
 */
import { formatScope } from "../../shared/domain/scope.ts";
import type { ConfigEntry } from "../../shared/proto/gen/pact/config/config.ts";
import type { ReadQuery } from "../store/port.ts";
import {
  type CompressedOverlay,
  compressOverlay,
  decodeBootOverlay,
  OVERLAY_ENCODING,
} from "./overlay_codec.ts";
import { OVERLAY_ENTRY_TYPES, OverlayFold } from "./overlay_fold.ts";

/** Overlay bytes per boot-stream chunk. */
export const OVERLAY_CHUNK_BYTES = 64 * 1024;
/** Default budget of compressed bytes the cache holds (256 MiB). */
export const OVERLAY_CACHE_BYTES_MAX = 256 * 1024 * 1024;
/** Default number of vClusters the cache holds. */
export const OVERLAY_CACHE_VCLUSTERS_MAX = 4096;
/** Entries read from the store at once while folding. */
const READ_PAGE_ENTRIES = 1000;

/** A vCluster overlay ready to stream. Immutable. */
export interface CompiledOverlay extends CompressedOverlay {
  readonly vclusterId: string;
  /** Sequence of the latest entry that shaped the overlay; undefined when none did. */
  readonly version: number | undefined;
  readonly encoding: string;
  /** `data` split into OVERLAY_CHUNK_BYTES pieces (views, no copies); at least one. */
  readonly chunks: readonly Uint8Array[];
  /** Per item key: sequence of the latest overlay entry that set or removed it. */
  readonly keySequences: ReadonlyMap<string, number>;
}

/** Where overlay entries come from: the journal's local store. */
export interface OverlaySource {
  read(query: ReadQuery): Promise<ConfigEntry[]>;
}

/** Limits and observers of an OverlayCache. */
export interface OverlayCacheOptions {
  /** Compressed bytes kept at most; the least recently used overlays go first. */
  readonly bytesMax?: number;
  readonly vclustersMax?: number;
  /** Called after each build (not after a reuse); must not throw. */
  readonly onBuilt?: (overlay: CompiledOverlay, elapsedMs: number) => void;
  /** Called for each overlay entry that could not be decoded and was skipped. */
  readonly onSkipped?: (vclusterId: string, sequence: number, reason: string) => void;
}

interface Slot {
  readonly overlay: CompiledOverlay;
  /** The newest vCluster version this overlay is known to be current for. */
  checkedVersion: number;
}

/** The cache of compiled overlays; one per journal, owned by the BootConfigService. */
export class OverlayCache {
  readonly #source: OverlaySource;
  readonly #bytesMax: number;
  readonly #vclustersMax: number;
  readonly #options: OverlayCacheOptions;
  /** Map order is recency order: the first slot is the least recently used. */
  readonly #slots = new Map<string, Slot>();
  readonly #inflight = new Map<string, Promise<CompiledOverlay>>();
  #bytes = 0;
  #builds = 0;

  constructor(source: OverlaySource, options: OverlayCacheOptions = {}) {
    this.#source = source;
    this.#bytesMax = options.bytesMax ?? OVERLAY_CACHE_BYTES_MAX;
    this.#vclustersMax = options.vclustersMax ?? OVERLAY_CACHE_VCLUSTERS_MAX;
    this.#options = options;
  }

  /** How many overlays were compiled and compressed so far. */
  get builds(): number {
    return this.#builds;
  }

  /** Compressed bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * The overlay of `vclusterId` as of `vclusterVersion` (the vCluster's
   * version in the journal state the caller read). Concurrent callers for
   * the same version share one build.
   */
  get(vclusterId: string, vclusterVersion: number): Promise<CompiledOverlay> {
    const slot = this.#slots.get(vclusterId);
    if (
      slot && (slot.overlay.version ?? -1) <= vclusterVersion &&
      slot.checkedVersion >= vclusterVersion
    ) {
      this.#touch(vclusterId, slot);
      return Promise.resolve(slot.overlay);
    }
    const key = `${vclusterId}@${vclusterVersion}`;
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = this.#refresh(vclusterId, vclusterVersion).finally(() =>
        this.#inflight.delete(key)
      );
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  /** The cached overlay of `vclusterId`, if any, without building. */
  peek(vclusterId: string): CompiledOverlay | undefined {
    return this.#slots.get(vclusterId)?.overlay;
  }

  async #refresh(vclusterId: string, vclusterVersion: number): Promise<CompiledOverlay> {
    const scope = formatScope({ kind: "vcluster", id: vclusterId });
    const [latest] = await this.#source.read({
      scope,
      entryTypes: OVERLAY_ENTRY_TYPES,
      toSequence: vclusterVersion,
      newestFirst: true,
      limit: 1,
    });
    const version = latest?.sequence;
    const slot = this.#slots.get(vclusterId);
    if (slot && slot.overlay.version === version) {
      // Only unrelated vCluster entries since the last build: reuse its bytes.
      slot.checkedVersion = Math.max(slot.checkedVersion, vclusterVersion);
      this.#touch(vclusterId, slot);
      return slot.overlay;
    }
    const started = performance.now();
    const overlay = await this.#build(vclusterId, scope, version);
    this.#builds++;
    this.#options.onBuilt?.(overlay, performance.now() - started);
    const current = this.#slots.get(vclusterId);
    if (!current || (current.overlay.version ?? -1) <= (version ?? -1)) {
      this.#store(vclusterId, { overlay, checkedVersion: vclusterVersion });
    }
    return overlay;
  }

  async #build(
    vclusterId: string,
    scope: string,
    version: number | undefined,
  ): Promise<CompiledOverlay> {
    const fold = new OverlayFold(decodeBootOverlay);
    let from = 0;
    while (version !== undefined && from <= version) {
      const page = await this.#source.read({
        scope,
        entryTypes: OVERLAY_ENTRY_TYPES,
        fromSequence: from,
        toSequence: version,
        limit: READ_PAGE_ENTRIES,
      });
      for (const entry of page) fold.apply(entry);
      if (page.length < READ_PAGE_ENTRIES) break;
      from = page[page.length - 1]!.sequence + 1;
    }
    for (const { sequence, reason } of fold.skipped) {
      this.#options.onSkipped?.(vclusterId, sequence, reason);
    }
    const folded = fold.result();
    const compressed = await compressOverlay(folded.declared);
    return {
      ...compressed,
      vclusterId,
      version,
      encoding: OVERLAY_ENCODING,
      chunks: split(compressed.data),
      keySequences: folded.keySequences,
    };
  }

  #touch(vclusterId: string, slot: Slot): void {
    this.#slots.delete(vclusterId);
    this.#slots.set(vclusterId, slot);
  }

  #store(vclusterId: string, slot: Slot): void {
    const old = this.#slots.get(vclusterId);
    if (old) this.#bytes -= old.overlay.data.length;
    this.#slots.delete(vclusterId);
    this.#slots.set(vclusterId, slot);
    this.#bytes += slot.overlay.data.length;
    // Evict the least recently used, but never the overlay just stored.
    for (const [id, lru] of this.#slots) {
      if (this.#bytes <= this.#bytesMax && this.#slots.size <= this.#vclustersMax) break;
      if (id === vclusterId) continue;
      this.#slots.delete(id);
      this.#bytes -= lru.overlay.data.length;
    }
  }
}

function split(data: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < data.length || chunks.length === 0; at += OVERLAY_CHUNK_BYTES) {
    chunks.push(data.subarray(at, at + OVERLAY_CHUNK_BYTES));
  }
  return chunks;
}
