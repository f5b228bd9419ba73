/**
 * Proactive half of overlay building (the reference's ADR-009 "hybrid"):
 * follows the journal and rebuilds a vCluster's overlay as soon as an entry
 * that may change it commits, so the first node to boot after `pact apply`
 * finds it ready. Serving never depends on it: the cache builds on demand
 * whatever the warmer has not.
 */
import { fromProtoScope } from "../../shared/domain/scope.ts";
import { isPactError } from "../../shared/errors/mod.ts";
import type { ConfigEntry } from "../../shared/proto/gen/pact/config/config.ts";
import type { JournalState } from "../state/state.ts";
import type { OverlayCache } from "./overlay_cache.ts";
import { OVERLAY_ENTRY_TYPES } from "./overlay_fold.ts";

/** The part of the Journal the warmer follows. */
export interface WarmerJournal {
  readonly state: JournalState;
  subscribe(
    fromSequence: number,
    filter: (entry: ConfigEntry) => boolean,
    signal?: AbortSignal,
  ): AsyncIterable<ConfigEntry>;
}

/** A running warmer. */
export interface OverlayWarmer {
  /** Stops following the journal. */
  stop(): void;
  /** Resolves once every rebuild scheduled so far has finished (for tests). */
  idle(): Promise<void>;
}

/**
 * Starts warming `cache` from `journal`'s new entries. Ends by itself when
 * the journal closes or disconnects its subscribers; resubscribes at the
 * head when it fell behind (what it missed is built on demand).
 */
export function warmOverlays(
  journal: WarmerJournal,
  cache: OverlayCache,
  onError: (error: unknown) => void,
): OverlayWarmer {
  const controller = new AbortController();
  const pending = new Set<string>();
  let running: Promise<void> | undefined;

  const drain = async () => {
    for (const vclusterId of pending) {
      pending.delete(vclusterId);
      const record = journal.state.vclusters.get(vclusterId);
      if (record) await cache.get(vclusterId, record.version).catch(onError);
    }
  };
  const schedule = (vclusterId: string) => {
    pending.add(vclusterId);
    running ??= drain().finally(() => (running = undefined));
  };

  const follow = async () => {
    while (!controller.signal.aborted) {
      try {
        const entries = journal.subscribe(
          journal.state.nextSequence,
          isOverlayEntry,
          controller.signal,
        );
        for await (const entry of entries) schedule(vclusterOf(entry));
        return;
      } catch (err) {
        if (!isPactError(err, "RESOURCE_EXHAUSTED")) {
          if (!isPactError(err, "UNAVAILABLE")) onError(err);
          return;
        }
      }
    }
  };
  void follow();

  return {
    stop: () => controller.abort(),
    idle: async () => {
      while (running) await running;
    },
  };
}

function isOverlayEntry(entry: ConfigEntry): boolean {
  return fromProtoScope(entry.scope)?.kind === "vcluster" &&
    OVERLAY_ENTRY_TYPES.includes(entry.entryType);
}

function vclusterOf(entry: ConfigEntry): string {
  const scope = fromProtoScope(entry.scope);
  return scope?.kind === "vcluster" ? scope.id : "";
}
