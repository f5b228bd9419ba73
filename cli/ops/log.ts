import { formatScope, type ScopeRef, toProtoScope } from "../../shared/domain/scope.ts";
import { PactError } from "../../shared/errors/mod.ts";
import type { JournalApi } from "./journal_port.ts";
import { type EntryView, entryView } from "./views.ts";

/** Most entries `pact log` shows at once. */
export const LOG_LIMIT_MAX = 10_000;

/** What `pact log` asks for. */
export interface LogQuery {
  readonly limit: number;
  readonly scope?: ScopeRef | undefined;
}

/** `pact log`: the newest entries, newest first. */
export async function configLog(journal: JournalApi, query: LogQuery): Promise<EntryView[]> {
  if (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > LOG_LIMIT_MAX) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Invalid entry count ${query.limit} (use 1-${LOG_LIMIT_MAX})`,
    );
  }
  const entries = await journal.listEntries({
    limit: query.limit,
    newestFirst: true,
    ...(query.scope ? { scope: toProtoScope(query.scope) } : {}),
  });
  return entries.map(entryView);
}

/** Human label of a log query's scope. */
export function scopeLabel(scope: ScopeRef | undefined): string {
  return scope ? formatScope(scope) : "all scopes";
}
