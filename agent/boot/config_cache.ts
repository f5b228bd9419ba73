/**
 * The last boot config that verified, kept on the node so that it can boot
 * when no journal answers (reference F20). It holds the messages exactly as
 * the journal sent them and is checked again, chunk by chunk and checksum
 * by checksum, when read back. Written atomically (temp file + rename)
 * through the host's files port, so a crash leaves the old copy or the new
 * one, never half of either.
 */
import { Buffer } from "node:buffer";
import { BootConfigChunk } from "../../shared/proto/gen/pact/stream/stream.ts";
import type { FilesPort } from "../host/host.ts";
import { type BootConfig, verifyBootConfig } from "./boot_config.ts";
import { corrupt } from "./boot_error.ts";

/** The cache file's name below the agent's state directory. */
export const CACHE_FILE = "boot-config.json";
const FORMAT = 1;

/** A cached config and where and when it came from. */
export interface CachedConfig {
  readonly config: BootConfig;
  readonly path: string;
  readonly nodeId: string;
  readonly savedAt: string;
  readonly endpoint: string;
}

interface CacheDocument {
  readonly format: number;
  readonly node_id: string;
  readonly saved_at: string;
  readonly endpoint: string;
  readonly config_version: number;
  /** Each BootConfigChunk, protobuf-encoded, base64. */
  readonly messages: readonly string[];
}

/** Reads and writes the cache through a host's files. */
export class ConfigCache {
  readonly path: string;
  readonly #files: FilesPort;

  constructor(files: FilesPort, stateDir: string) {
    this.#files = files;
    this.path = `${stateDir.replace(/\/+$/, "")}/${CACHE_FILE}`;
  }

  /** Saves a verified config (atomically). */
  async save(config: BootConfig, nodeId: string, endpoint: string, nowMs: number): Promise<void> {
    const document: CacheDocument = {
      format: FORMAT,
      node_id: nodeId,
      saved_at: new Date(nowMs).toISOString(),
      endpoint,
      config_version: config.complete.configVersion,
      messages: config.messages.map((m) =>
        Buffer.from(BootConfigChunk.encode(m).finish()).toString("base64")
      ),
    };
    await this.#files.write(this.path, new TextEncoder().encode(JSON.stringify(document)), 0o600);
  }

  /**
   * The cached config of `nodeId`, or undefined when there is none. A cache
   * that does not parse or verify, or belongs to another node, is an error:
   * booting from it would apply something nobody declared.
   */
  async load(nodeId: string): Promise<CachedConfig | undefined> {
    const bytes = await this.#files.read(this.path);
    if (bytes === undefined) return undefined;
    let document: CacheDocument;
    try {
      document = JSON.parse(new TextDecoder().decode(bytes)) as CacheDocument;
    } catch (err) {
      throw corrupt(`Refused cached config ${this.path}: not JSON: ${(err as Error).message}`);
    }
    if (document.format !== FORMAT || !Array.isArray(document.messages)) {
      throw corrupt(`Refused cached config ${this.path}: unknown format ${document.format}`);
    }
    if (document.node_id !== nodeId) {
      throw corrupt(
        `Refused cached config ${this.path}: it belongs to node ${document.node_id}, not ${nodeId}`,
      );
    }
    let messages: BootConfigChunk[];
    try {
      messages = document.messages.map((text) =>
        BootConfigChunk.decode(new Uint8Array(Buffer.from(text, "base64")))
      );
    } catch (err) {
      throw corrupt(`Refused cached config ${this.path}: ${(err as Error).message}`);
    }
    return {
      config: verifyBootConfig(messages, `cache ${this.path}`),
      path: this.path,
      nodeId,
      savedAt: document.saved_at,
      endpoint: document.endpoint,
    };
  }
}
