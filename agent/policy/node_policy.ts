/**
 * The one PolicyCache of a running node: `openNodePolicy` (agent/main.ts)
 * opens it over the agent's state directory once the node booted; the
 * shell modules (exec, shell sessions, services) find it with `nodePolicy`
 * and read it on every request. A node whose cache was never opened (a
 * shell server started without main.ts, as unit tests do) gets one that
 * holds the boot's policy in memory.
 */
import { systemClock } from "../../shared/clock/clock.ts";
import type { Clock } from "../../shared/clock/clock.ts";
import type { RunningNode } from "../boot/run_boot.ts";
import { BOOT_SEQUENCE, PolicyCache } from "./policy_cache.ts";
import { PolicyStore } from "./policy_store.ts";

const caches = new WeakMap<RunningNode, PolicyCache>();

/** The node's vCluster: agent.toml's, else the one its boot policy names. */
export function vclusterOf(node: RunningNode): string | undefined {
  return node.boot.config.vcluster ?? (node.boot.policy?.vclusterId || undefined);
}

/** Opens (and remembers) the node's policy cache, saved under `stateDir` (a node path). */
export async function openNodePolicy(
  node: RunningNode,
  stateDir: string,
  clock: Clock,
  log: (line: string) => void,
): Promise<PolicyCache> {
  const { config, host, policy, record } = node.boot;
  const cache = await PolicyCache.open(
    {
      nodeId: config.nodeId,
      vcluster: vclusterOf(node),
      store: new PolicyStore(host.files, stateDir),
      clock,
      log,
    },
    { policy, fromCache: record.fromCache },
  );
  caches.set(node, cache);
  return cache;
}

/** The node's policy cache: the opened one, or one holding the boot's policy in memory. */
export function nodePolicy(node: RunningNode): PolicyCache {
  let cache = caches.get(node);
  if (cache === undefined) {
    cache = new PolicyCache(
      {
        nodeId: node.boot.config.nodeId,
        vcluster: vclusterOf(node),
        store: undefined,
        clock: systemClock,
        log: () => {},
      },
      {
        policy: node.boot.policy,
        sequence: BOOT_SEQUENCE,
        source: "boot",
        receivedAtMs: systemClock.now(),
      },
    );
    caches.set(node, cache);
  }
  return cache;
}
