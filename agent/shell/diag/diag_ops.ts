/**
 * CollectDiag as a plain function over the node's log sources (reference
 * §2.12): only pact-platform-admin and pact-ops-<vcluster> of the node's
 * vCluster may read (viewers are refused, LOG1); the grep pattern and the
 * line limit are applied here, on the agent, so lines that do not match
 * never leave the node; each call is journaled as a DIAG_COLLECT entry
 * naming who asked for what.
 */
import type { Principal } from "../../../shared/auth/principal.ts";
import { EntryType } from "../../../shared/proto/gen/pact/config/config.ts";
import type { DiagChunk, DiagRequest } from "../../../shared/proto/gen/pact/shell/shell.ts";
import { agentEntry } from "../../drift/drift_entries.ts";
import type { EntrySink } from "../../node_agent.ts";
import { requireAccess } from "../authorize.ts";
import { type DiagQuery, lastMatching, parseDiagRequest } from "./diag_request.ts";
import type { DiagSources, SourceLines } from "./diag_sources.ts";

/** Most lines a source hands to the grep filter (its newest). */
export const SCAN_LINES_MAX = 100_000;
/** Most lines per streamed chunk. */
const CHUNK_LINES_MAX = 500;

/** What the operation runs over. */
export interface DiagOpsDeps {
  readonly node: { readonly nodeId: string; readonly vcluster: string | undefined };
  readonly sources: DiagSources;
  /** Where calls are journaled; undefined: they are only logged. */
  readonly journal: EntrySink | undefined;
  readonly log: (line: string) => void;
}

/** Diagnostic log collection for an authenticated caller. */
export class DiagOps {
  readonly #deps: DiagOpsDeps;

  constructor(deps: DiagOpsDeps) {
    this.#deps = deps;
  }

  /** The chunks of every requested source, in order: dmesg, syslog, then services. */
  async *collect(principal: Principal, request: DiagRequest): AsyncGenerator<DiagChunk> {
    requireAccess(principal, this.#deps.node, "control", "Diagnostics");
    const query = parseDiagRequest(request);
    const journaled = this.#journal(principal, query).catch((err) =>
      this.#deps.log(`shell: diag not journaled: ${(err as Error).message}`)
    );
    try {
      const want = query.grep ? SCAN_LINES_MAX : query.lineLimit;
      const { sources } = this.#deps;
      if (query.sources !== "service") {
        yield* chunks("dmesg", await sources.dmesg(want), query);
        const syslog = await sources.syslog(want);
        yield* chunks(syslog?.label ?? "syslog", syslog, query);
      }
      if (query.sources !== "system") {
        const names = await sources.serviceNames();
        if (query.service !== undefined && !names.includes(query.service)) {
          yield {
            source: `service:${query.service}`,
            lines: [`service '${query.service}' not found in supervisor`],
            truncated: false,
          };
          return;
        }
        for (const name of query.service === undefined ? names : [query.service]) {
          yield* chunks(`service:${name}`, await sources.serviceLog(name, want), query);
        }
      }
    } finally {
      await journaled;
    }
  }

  async #journal(principal: Principal, query: DiagQuery): Promise<void> {
    const { nodeId } = this.#deps.node;
    const source = query.service === undefined
      ? query.sources
      : `${query.sources}:service:${query.service}`;
    const grep = query.pattern === "" ? "" : `, grep ${JSON.stringify(query.pattern)}`;
    const message = `diag by ${principal.principal}: ${source}${grep}, ${query.lineLimit} lines`;
    this.#deps.log(`shell: ${message}`);
    if (!this.#deps.journal) return;
    await this.#deps.journal.append({
      ...agentEntry({
        nodeId,
        type: EntryType.DIAG_COLLECT,
        message: message.length > 1000 ? `${message.slice(0, 997)}...` : message,
        metadata: { principal: principal.principal, source, grep: query.pattern },
      }),
      payload: {
        $case: "diag",
        value: { source, grep: query.pattern, lines: query.lineLimit, nodeIds: [nodeId] },
      },
    });
  }
}

/** One source's lines after the filter, in chunks; one empty chunk when it has none. */
function* chunks(
  source: string,
  from: SourceLines | undefined,
  query: DiagQuery,
): Generator<DiagChunk> {
  if (!from) {
    yield { source, lines: [], truncated: false };
    return;
  }
  const { lines, truncated } = lastMatching(from.lines, query.grep, query.lineLimit, from.cut);
  if (lines.length === 0) yield { source, lines: [], truncated };
  for (let at = 0; at < lines.length; at += CHUNK_LINES_MAX) {
    yield { source, lines: lines.slice(at, at + CHUNK_LINES_MAX), truncated };
  }
}
