/**
 * The node's vCluster policy as the agent enforces it (reference §2.8
 * "agent-side policy cache", §2.11 degraded mode): seeded from the boot
 * config, replaced by each POLICY_UPDATE of the node's vCluster that the
 * journal subscription delivers, and kept on disk so that an agent that
 * restarts while the journal is unreachable goes on enforcing the last
 * policy it received (exec whitelist additions, shell whitelist, role
 * bindings, ai_exec_allowed, two_person_approval).
 *
 *   boot (journal) ──┐                     POLICY_UPDATE seq > current
 *                    ├─> current policy ───────────────────────────────┐
 *   boot (cache) ────┘   (saved to disk)  <──── replaced, saved ───────┘
 *
 * The exec, shell and service decisions read `policy` on every request,
 * never a copy taken at boot. Updates of other vClusters, and updates not
 * newer than the current one (delivery is at-least-once), are ignored.
 */
import type { Clock } from "../../shared/clock/clock.ts";
import { fromProtoScope } from "../../shared/domain/scope.ts";
import {
  type ConfigEntry,
  EntryType,
  type VClusterPolicy,
} from "../../shared/proto/gen/pact/config/config.ts";
import type { PolicyStore, StoredPolicy } from "./policy_store.ts";

/** The sequence of a policy that came with the boot config (journal sequences start at 0). */
export const BOOT_SEQUENCE = -1;

/** Where the current policy came from. */
export type PolicySource = "boot" | "journal" | "cache";

/** The policy in force and where it came from. */
export interface PolicySnapshot {
  /** Undefined: the vCluster has no policy (built-in rules only). */
  readonly policy: VClusterPolicy | undefined;
  /** The POLICY_UPDATE's sequence; BOOT_SEQUENCE when it came with the boot config. */
  readonly sequence: number;
  readonly source: PolicySource;
  /** When the agent received it (ms since the epoch). */
  readonly receivedAtMs: number;
}

/** What the cache needs. */
export interface PolicyCacheOptions {
  readonly nodeId: string;
  /** The node's vCluster; undefined: no vCluster, no policy applies. */
  readonly vcluster: string | undefined;
  /** Where the policy is kept across restarts; undefined: memory only. */
  readonly store: PolicyStore | undefined;
  readonly clock: Clock;
  readonly log: (line: string) => void;
}

/** The boot's view of the policy. */
export interface BootPolicy {
  readonly policy: VClusterPolicy | undefined;
  /** True when the boot used the cached config because no journal answered. */
  readonly fromCache: boolean;
}

/** The current vCluster policy of one node. */
export class PolicyCache {
  readonly #options: PolicyCacheOptions;
  #snapshot: PolicySnapshot;
  #saving: Promise<void> = Promise.resolve();
  readonly #listeners = new Set<(snapshot: PolicySnapshot) => void>();

  constructor(options: PolicyCacheOptions, initial: PolicySnapshot) {
    this.#options = options;
    this.#snapshot = initial;
  }

  /**
   * The cache of a booted node. After a boot from the journal its policy
   * is current and saved; after a boot from the cached config (partition)
   * the saved policy is used when it belongs to this node and vCluster,
   * and the log says that it is cached and how old it is.
   */
  static async open(options: PolicyCacheOptions, boot: BootPolicy): Promise<PolicyCache> {
    const nowMs = options.clock.now();
    if (!boot.fromCache) {
      const cache = new PolicyCache(options, {
        policy: boot.policy,
        sequence: BOOT_SEQUENCE,
        source: "boot",
        receivedAtMs: nowMs,
      });
      cache.#save();
      await cache.#saving;
      return cache;
    }
    const stored = await loadStored(options);
    if (stored) {
      const cache = new PolicyCache(options, {
        policy: stored.policy,
        sequence: stored.sequence,
        source: "cache",
        receivedAtMs: stored.receivedAtMs,
      });
      options.log(
        `policy: journal unreachable at boot: enforcing the CACHED policy of vCluster ${stored.vcluster} from ${
          options.store!.path
        } (${describeOrigin(stored.sequence)}, received ${
          new Date(stored.receivedAtMs).toISOString()
        }, age ${ageText(nowMs - stored.receivedAtMs)}): ${describePolicy(stored.policy)}`,
      );
      return cache;
    }
    options.log(
      `policy: journal unreachable at boot and no saved policy: enforcing the policy of the cached boot config (${
        describePolicy(boot.policy)
      })`,
    );
    return new PolicyCache(options, {
      policy: boot.policy,
      sequence: BOOT_SEQUENCE,
      source: "cache",
      receivedAtMs: nowMs,
    });
  }

  /** The policy in force and where it came from. */
  get snapshot(): PolicySnapshot {
    return this.#snapshot;
  }

  /** The policy in force; undefined when the vCluster has none. */
  get policy(): VClusterPolicy | undefined {
    return this.#snapshot.policy;
  }

  /** The node's vCluster. */
  get vcluster(): string | undefined {
    return this.#options.vcluster;
  }

  /** Calls `listener` after each change; returns a function that removes it. */
  onChange(listener: (snapshot: PolicySnapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Applies one journal entry: a POLICY_UPDATE of the node's vCluster newer
   * than the current policy replaces it (and is saved). Returns true when it
   * did; false for anything else, which is ignored.
   */
  apply(entry: ConfigEntry): boolean {
    const { vcluster, log } = this.#options;
    if (entry.entryType !== EntryType.POLICY_UPDATE) return false;
    const payload = entry.payload;
    const scope = fromProtoScope(entry.scope);
    if (payload?.$case !== "policy" || vcluster === undefined) return false;
    if (scope?.kind !== "vcluster" || scope.id !== vcluster) return false;
    if (entry.sequence <= this.#snapshot.sequence) {
      log(
        `policy: ignored seq:${entry.sequence} of vCluster ${vcluster}: not newer than seq:${this.#snapshot.sequence}`,
      );
      return false;
    }
    // The journal's own reduction (journal/state/reduce.ts): the whole policy is replaced.
    const policy: VClusterPolicy = {
      ...payload.value,
      vclusterId: vcluster,
      policyId: payload.value.policyId || `seq-${entry.sequence}`,
      updatedAt: entry.timestamp,
    };
    this.#snapshot = {
      policy,
      sequence: entry.sequence,
      source: "journal",
      receivedAtMs: this.#options.clock.now(),
    };
    log(`policy: vCluster ${vcluster} seq:${entry.sequence} applied: ${describePolicy(policy)}`);
    for (const listener of this.#listeners) listener(this.#snapshot);
    this.#save();
    return true;
  }

  /** Resolves once every save started so far has ended. */
  flushed(): Promise<void> {
    return this.#saving;
  }

  /** Saves the current snapshot after the saves before it (so the newest is written last). */
  #save(): void {
    const { store, nodeId, vcluster, log } = this.#options;
    const { policy, sequence, receivedAtMs } = this.#snapshot;
    if (!store || vcluster === undefined) return;
    // No policy (the boot said so): a saved one must not come back at the next partition.
    const write = policy
      ? () => store.save({ nodeId, vcluster, sequence, receivedAtMs, policy })
      : () => store.clear();
    this.#saving = this.#saving.then(write).catch((err) =>
      log(`policy: cannot save ${store.path}: ${(err as Error).message}`)
    );
  }
}

/** The saved policy when it belongs to this node and vCluster; problems are logged. */
async function loadStored(options: PolicyCacheOptions): Promise<StoredPolicy | undefined> {
  const { store, nodeId, vcluster, log } = options;
  if (!store || vcluster === undefined) return undefined;
  let stored: StoredPolicy | undefined;
  try {
    stored = await store.load();
  } catch (err) {
    log(`policy: saved policy not used: ${(err as Error).message}`);
    return undefined;
  }
  if (stored && (stored.nodeId !== nodeId || stored.vcluster !== vcluster)) {
    log(
      `policy: saved policy not used: ${store.path} is for node ${stored.nodeId} in vCluster ${stored.vcluster}, not ${nodeId} in ${vcluster}`,
    );
    return undefined;
  }
  return stored;
}

/** A one-line summary for the log: policy id and the fields the shell decisions use. */
export function describePolicy(policy: VClusterPolicy | undefined): string {
  if (!policy) return "no vCluster policy";
  const list = (values: readonly string[]) => values.length === 0 ? "-" : values.join(",");
  return [
    `policy ${policy.policyId || "(no id)"}`,
    `exec_whitelist ${list(policy.execWhitelist)}`,
    `shell_whitelist ${list(policy.shellWhitelist)}`,
    `${policy.roleBindings.length} role binding(s)`,
    `ai_exec_allowed ${policy.aiExecAllowed}`,
    `two_person_approval ${policy.twoPersonApproval}`,
  ].join(", ");
}

function describeOrigin(sequence: number): string {
  return sequence === BOOT_SEQUENCE ? "from the boot config" : `seq:${sequence}`;
}

/** `42 s`, `5 min`, `3 h`, `2 d`. */
export function ageText(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} d`;
}
