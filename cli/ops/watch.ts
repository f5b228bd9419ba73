import { type ScopeRef, toProtoScope } from "../../shared/domain/scope.ts";
import { UpdateKind } from "../../shared/proto/gen/pact/config/config.ts";
import type { JournalApi } from "./journal_port.ts";
import { type UpdateView, updateView } from "./views.ts";

/** What `pact watch` follows. */
export interface WatchQuery {
  readonly scope?: ScopeRef | undefined;
  /** Replay from this sequence first; default: only new entries. */
  readonly fromSequence?: number | undefined;
}

/** `pact watch`: live journal updates (heartbeats filtered out) until `signal` aborts. */
export async function* watchUpdates(
  journal: JournalApi,
  query: WatchQuery,
  signal: AbortSignal,
): AsyncGenerator<UpdateView> {
  const updates = journal.subscribe({
    ...(query.fromSequence !== undefined
      ? { fromSequence: query.fromSequence }
      : { fromHead: true }),
    ...(query.scope ? { scope: toProtoScope(query.scope) } : {}),
  }, signal);
  for await (const update of updates) {
    if (update.kind !== UpdateKind.HEARTBEAT) yield updateView(update);
  }
}
