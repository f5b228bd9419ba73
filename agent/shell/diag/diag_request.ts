/**
 * A CollectDiag request checked once at the edge (reference §2.12, LOG2 to
 * LOG5), and the filter applied to every source's lines on the agent: the
 * grep pattern line by line, then the last `lineLimit` matching lines.
 */
import { PactError } from "../../../shared/errors/mod.ts";
import type { DiagRequest } from "../../../shared/proto/gen/pact/shell/shell.ts";

/** Lines per source when the request asks for 0. */
export const DIAG_LINES_DEFAULT = 100;
/** Most lines per source. */
export const DIAG_LINES_MAX = 10_000;
/** Longest grep pattern. */
export const GREP_PATTERN_CHARS_MAX = 255;

/** Which sources a request reads. */
export type SourceFilter = "system" | "service" | "all";

/** A checked request. */
export interface DiagQuery {
  readonly sources: SourceFilter;
  /** One service, or undefined for every supervised service. */
  readonly service: string | undefined;
  /** The pattern as sent ("" when none), for the journal entry. */
  readonly pattern: string;
  readonly grep: RegExp | undefined;
  readonly lineLimit: number;
}

/** Checks a request; throws INVALID_ARGUMENT naming what is wrong. */
export function parseDiagRequest(request: DiagRequest): DiagQuery {
  const sources = request.sourceFilter === "" ? "all" : request.sourceFilter;
  if (sources !== "system" && sources !== "service" && sources !== "all") {
    throw invalid(
      `Invalid diag source ${JSON.stringify(request.sourceFilter)}: use system, service or all`,
    );
  }
  const name = request.serviceName;
  if (name.includes("/") || name.includes("..") || /[\0\n]/.test(name)) {
    throw invalid(`Invalid service name ${JSON.stringify(name)}: no "/" or ".." allowed`);
  }
  if (name !== "" && sources === "system") {
    throw invalid(`A service name needs source service or all, not system`);
  }
  if (request.lineLimit > DIAG_LINES_MAX) {
    throw invalid(`Cannot return ${request.lineLimit} lines per source: at most ${DIAG_LINES_MAX}`);
  }
  return {
    sources,
    service: name === "" ? undefined : name,
    pattern: request.grepPattern,
    grep: compileGrep(request.grepPattern),
    lineLimit: request.lineLimit === 0 ? DIAG_LINES_DEFAULT : request.lineLimit,
  };
}

function compileGrep(pattern: string): RegExp | undefined {
  if (pattern === "") return undefined;
  if (pattern.length > GREP_PATTERN_CHARS_MAX) {
    throw invalid(
      `Grep pattern is ${pattern.length} characters long: at most ${GREP_PATTERN_CHARS_MAX}`,
    );
  }
  try {
    return new RegExp(pattern);
  } catch (err) {
    throw invalid(`Invalid grep pattern ${JSON.stringify(pattern)}: ${(err as Error).message}`);
  }
}

function invalid(message: string): PactError {
  return new PactError("INVALID_ARGUMENT", message);
}

/**
 * The last `limit` lines that match `grep` (every line without one);
 * `truncated` when more matched, or when the source had dropped older
 * lines before the filter saw them (`cut`: a file read from its last
 * bytes, a log kept in rotated files).
 */
export function lastMatching(
  lines: readonly string[],
  grep: RegExp | undefined,
  limit: number,
  cut = false,
): { readonly lines: string[]; readonly truncated: boolean } {
  const kept: string[] = [];
  let matched = 0;
  // From the end: stop testing once the limit is reached and one more matched.
  for (let i = lines.length - 1; i >= 0 && matched <= limit; i--) {
    const line = lines[i]!;
    if (grep && !grep.test(line)) continue;
    matched++;
    if (matched <= limit) kept.push(line);
  }
  return { lines: kept.reverse(), truncated: matched > limit || cut };
}
