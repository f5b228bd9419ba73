/**
 * Reads the newest POLICY_UPDATE of the node's vCluster from the journal
 * once, after the agent started: the journal subscription begins at the
 * journal's head, so a policy changed while the agent booted, or while it
 * was partitioned and ran on its cached policy, would otherwise only come
 * with the next change. Retries with backoff (1 s, doubling, 60 s cap)
 * until the journal answers or the agent stops.
 */
import { type Backoff, backoffDelayMs } from "../../shared/backoff.ts";
import { toProtoScope } from "../../shared/domain/scope.ts";
import { type ConfigEntry, EntryType } from "../../shared/proto/gen/pact/config/config.ts";
import type { ListEntriesRequest } from "../../shared/proto/gen/pact/journal/journal.ts";
import type { PolicyCache } from "./policy_cache.ts";

/** The journal call the catch-up makes (a JournalClient satisfies it). */
export interface PolicyEntriesApi {
  listEntries(request: Partial<ListEntriesRequest>): Promise<ConfigEntry[]>;
}

/** Retry timing of the catch-up; after the last attempt the subscription still delivers later changes. */
export type CatchUpBackoff = Backoff;

export const CATCH_UP_BACKOFF: CatchUpBackoff = { baseMs: 1_000, maxMs: 60_000, attempts: 1_000 };

/** Applies the vCluster's newest policy update; resolves when done, given up or aborted. */
export async function catchUpPolicy(
  cache: PolicyCache,
  journal: () => PolicyEntriesApi,
  signal: AbortSignal,
  log: (line: string) => void,
  backoff: CatchUpBackoff = CATCH_UP_BACKOFF,
): Promise<void> {
  const vcluster = cache.vcluster;
  if (vcluster === undefined) return;
  for (let attempt = 1; !signal.aborted && attempt <= backoff.attempts; attempt++) {
    try {
      const entries = await journal().listEntries({
        scope: toProtoScope({ kind: "vcluster", id: vcluster }),
        entryTypes: [EntryType.POLICY_UPDATE],
        newestFirst: true,
        limit: 1,
      });
      const newest = entries[0];
      if (newest !== undefined && cache.apply(newest)) {
        log(`policy: caught up with seq:${newest.sequence} from the journal`);
      }
      return;
    } catch (err) {
      const delayMs = backoffDelayMs(attempt - 1, backoff.baseMs, backoff.maxMs);
      if (attempt === 1 || attempt % 10 === 0) {
        log(
          `policy: cannot read the vCluster policy from the journal (${
            (err as Error).message
          }); enforcing the ${cache.snapshot.source} policy, retrying in ${delayMs} ms`,
        );
      }
      await sleep(delayMs, signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
