/**
 * The agent's copy of its vCluster policy on disk, so that a node that
 * restarts while the journal is unreachable keeps enforcing the last policy
 * it received (reference §2.8 degraded mode: whitelist checks and role
 * bindings from the cached policy). Written atomically through the host's
 * files port (temp file + rename): a crash leaves the old copy or the new
 * one, never half of either.
 */
import { Buffer } from "node:buffer";
import { VClusterPolicy } from "../../shared/proto/gen/pact/config/config.ts";
import type { FilesPort } from "../host/host.ts";

/** The cache file's name below the agent's state directory. */
export const POLICY_CACHE_FILE = "policy-cache.json";
const FORMAT = 1;

/** One policy as the agent holds it, and where it came from. */
export interface StoredPolicy {
  readonly nodeId: string;
  readonly vcluster: string;
  /** The POLICY_UPDATE entry's sequence; -1 when the policy came with the boot config. */
  readonly sequence: number;
  /** When the agent received it (ms since the epoch). */
  readonly receivedAtMs: number;
  readonly policy: VClusterPolicy;
}

interface StoreDocument {
  readonly format: number;
  readonly node_id: string;
  readonly vcluster: string;
  readonly sequence: number;
  readonly received_at: string;
  /** The VClusterPolicy, protobuf-encoded, base64. */
  readonly policy: string;
}

/** Reads and writes the policy cache through a host's files. */
export class PolicyStore {
  readonly path: string;
  readonly #files: Pick<FilesPort, "read" | "write" | "remove">;

  constructor(files: Pick<FilesPort, "read" | "write" | "remove">, stateDir: string) {
    this.#files = files;
    this.path = `${stateDir.replace(/\/+$/, "")}/${POLICY_CACHE_FILE}`;
  }

  /** Saves `stored` (atomically, mode 0600). */
  async save(stored: StoredPolicy): Promise<void> {
    const document: StoreDocument = {
      format: FORMAT,
      node_id: stored.nodeId,
      vcluster: stored.vcluster,
      sequence: stored.sequence,
      received_at: new Date(stored.receivedAtMs).toISOString(),
      policy: Buffer.from(VClusterPolicy.encode(stored.policy).finish()).toString("base64"),
    };
    await this.#files.write(this.path, new TextEncoder().encode(JSON.stringify(document)), 0o600);
  }

  /** Removes the saved policy (the vCluster has none any more). */
  async clear(): Promise<void> {
    await this.#files.remove(this.path);
  }

  /**
   * The stored policy, or undefined when there is none. Throws an Error
   * naming the file when it does not parse: the caller logs it and goes on
   * without the cache.
   */
  async load(): Promise<StoredPolicy | undefined> {
    const bytes = await this.#files.read(this.path);
    if (bytes === undefined) return undefined;
    let document: StoreDocument;
    try {
      document = JSON.parse(new TextDecoder().decode(bytes)) as StoreDocument;
    } catch (err) {
      throw new Error(`Cannot read policy cache ${this.path}: not JSON: ${(err as Error).message}`);
    }
    if (
      document?.format !== FORMAT || typeof document.policy !== "string" ||
      typeof document.node_id !== "string" || typeof document.vcluster !== "string" ||
      !Number.isSafeInteger(document.sequence) || document.sequence < -1
    ) {
      throw new Error(`Cannot read policy cache ${this.path}: unknown format ${document?.format}`);
    }
    const receivedAtMs = Date.parse(document.received_at);
    if (Number.isNaN(receivedAtMs)) {
      throw new Error(
        `Cannot read policy cache ${this.path}: bad received_at ${
          JSON.stringify(document.received_at)
        }`,
      );
    }
    let policy: VClusterPolicy;
    try {
      policy = VClusterPolicy.decode(new Uint8Array(Buffer.from(document.policy, "base64")));
    } catch (err) {
      throw new Error(`Cannot read policy cache ${this.path}: ${(err as Error).message}`);
    }
    return {
      nodeId: document.node_id,
      vcluster: document.vcluster,
      sequence: document.sequence,
      receivedAtMs,
      policy,
    };
  }
}
