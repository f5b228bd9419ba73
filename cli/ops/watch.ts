import { backoffDelayMs } from "../../shared/backoff.ts";
import { type ScopeRef, toProtoScope } from "../../shared/domain/scope.ts";
import { isPactError, PactError } from "../../shared/errors/mod.ts";
import { UpdateKind } from "../../shared/proto/gen/pact/config/config.ts";
import type { JournalApi } from "./journal_port.ts";
import { type UpdateView, updateView } from "./views.ts";

/** What `pact watch` follows. */
export interface WatchQuery {
  readonly scope?: ScopeRef | undefined;
  /** Replay from this sequence first; default: only new entries. */
  readonly fromSequence?: number | undefined;
}

/** How watching survives a journal restart or a network blip. */
export interface ReconnectPolicy {
  /** Called before each wait; `resumeFrom` is the next sequence expected. */
  onReconnect(error: PactError, attempt: number, delayMs: number, resumeFrom: number): void;
  /** First wait; doubles per attempt. Default 1000 ms. */
  readonly baseDelayMs?: number;
  /** Longest wait. Default 30000 ms. */
  readonly maxDelayMs?: number;
  /** Give up after this many consecutive failures. Default 100. */
  readonly attemptsMax?: number;
}

/**
 * `pact watch`: live journal updates (heartbeats filtered out) until `signal`
 * aborts. When the journal becomes unreachable and `reconnect` is given,
 * waits with exponential backoff and resumes after the last update seen, so
 * nothing is skipped (at-least-once) and nothing seen is repeated.
 */
export async function* watchUpdates(
  journal: JournalApi,
  query: WatchQuery,
  signal: AbortSignal,
  reconnect?: ReconnectPolicy,
): AsyncGenerator<UpdateView> {
  // Pin the starting point first: a reconnect then resumes exactly where
  // this watch left off, even if nothing has happened yet. An unreachable
  // journal at start is an error for the caller, not a reason to wait.
  let next = query.fromSequence ?? (await journal.getJournalStatus()).nextSequence;
  let attempt = 0;
  while (!signal.aborted) {
    try {
      const updates = journal.subscribe({
        fromSequence: next,
        ...(query.scope ? { scope: toProtoScope(query.scope) } : {}),
      }, signal);
      for await (const update of updates) {
        attempt = 0;
        if (update.kind === UpdateKind.HEARTBEAT || update.sequence < next) continue;
        next = update.sequence + 1;
        yield updateView(update);
      }
      // A subscription never ends on its own: the journal went away cleanly.
      if (signal.aborted) return;
      throw new PactError("UNAVAILABLE", "Journal closed the subscription");
    } catch (err) {
      if (!reconnect || !isPactError(err, "UNAVAILABLE", "TIMEOUT") || signal.aborted) throw err;
      attempt++;
      if (attempt > (reconnect.attemptsMax ?? 100)) throw err;
      const delayMs = backoffDelayMs(
        attempt - 1,
        reconnect.baseDelayMs ?? 1000,
        reconnect.maxDelayMs ?? 30_000,
      );
      reconnect.onReconnect(err, attempt, delayMs, next);
      await sleep(delayMs, signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
