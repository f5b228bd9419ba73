/**
 * `pact diag` operations (reference §2.12): collect one node's logs from
 * its agent (CollectDiag, filtered on the agent), or every node's of a
 * vCluster through the fan-out (cli/ops/fanout.ts), and render them:
 * one node with a header per source; a fleet grouped by identical output
 * (`dshbak -c`) or, with `--prefix`, every line prefixed `[node]`.
 */
import { PactError } from "../../shared/errors/mod.ts";
import type { DiagChunk, DiagRequest } from "../../shared/proto/gen/pact/shell/shell.ts";
import {
  fanOut,
  type FanoutOptions,
  type FanoutResult,
  type FanoutTarget,
  groupByOutput,
  prefixLines,
  problemLines,
  renderGroups,
} from "./fanout.ts";

/** What the operations need from an agent (AgentClient, or a fake in tests). */
export interface DiagApi {
  collectDiag(request: DiagRequest, signal: AbortSignal): AsyncIterable<DiagChunk>;
  close(): void;
}

/** One source's lines as `pact diag` prints them (and `--json` emits them). */
export interface DiagSourceView {
  readonly source: string;
  readonly lines: readonly string[];
  readonly truncated: boolean;
}

/** One node's diagnostics. */
export interface DiagView {
  readonly node: string;
  readonly sources: readonly DiagSourceView[];
}

/** Options of `pact diag` checked into a request. */
export function diagRequest(options: {
  readonly lines?: string | undefined;
  readonly source?: string | undefined;
  readonly service?: string | undefined;
  readonly grep?: string | undefined;
}): DiagRequest {
  let lineLimit = 0;
  if (options.lines !== undefined) {
    lineLimit = Number(options.lines);
    if (!/^\d+$/.test(options.lines.trim()) || lineLimit < 1 || lineLimit > 10_000) {
      throw new PactError(
        "INVALID_ARGUMENT",
        `Invalid --lines ${JSON.stringify(options.lines)}: expected a whole number from 1 to 10000`,
      );
    }
  }
  return {
    sourceFilter: options.source ?? "all",
    serviceName: options.service ?? "",
    grepPattern: options.grep ?? "",
    lineLimit,
  };
}

/** The pattern as the agent will compile it; throws INVALID_ARGUMENT (checked once before a fleet run). */
export function checkGrep(pattern: string): void {
  try {
    new RegExp(pattern);
  } catch (err) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Invalid grep pattern ${JSON.stringify(pattern)}: ${(err as Error).message}`,
    );
  }
}

/** One node's chunks, merged per source in the order the agent sent them. */
export async function collectDiag(
  api: DiagApi,
  node: string,
  request: DiagRequest,
  signal: AbortSignal,
): Promise<DiagView> {
  const sources: { source: string; lines: string[]; truncated: boolean }[] = [];
  for await (const chunk of api.collectDiag(request, signal)) {
    const last = sources.at(-1);
    if (last && last.source === chunk.source) {
      last.lines.push(...chunk.lines);
      last.truncated ||= chunk.truncated;
    } else {
      sources.push({ source: chunk.source, lines: [...chunk.lines], truncated: chunk.truncated });
    }
  }
  return { node, sources };
}

/** One node's sources, each under a `==> source <==` header. */
export function renderDiag(view: DiagView): string {
  return view.sources.map((s) => {
    const note = s.lines.length === 0
      ? " (no lines)"
      : s.truncated
      ? ` (last ${s.lines.length} lines; older lines left out)`
      : "";
    return `==> ${s.source}${note} <==\n${s.lines.map((line) => `${line}\n`).join("")}`;
  }).join("");
}

/** A fleet run: every node's view, or why there is none. */
export type FleetDiag = FanoutResult<DiagView>;

/** Collects diagnostics from every target through the fan-out. */
export async function fleetDiag(
  targets: readonly FanoutTarget[],
  request: DiagRequest,
  clientOf: (target: FanoutTarget) => Promise<DiagApi>,
  options: FanoutOptions,
): Promise<FleetDiag> {
  return await fanOut(targets, async (target, signal) => {
    const api = await clientOf(target);
    try {
      return await collectDiag(api, target.node, request, signal);
    } catch (err) {
      // "unreachable (connection refused)" reads better than repeating the address.
      if (err instanceof PactError && err.code === "UNAVAILABLE") {
        throw new PactError("UNAVAILABLE", err.message.replace(/^Agent unreachable at \S+: /, ""));
      }
      throw err;
    } finally {
      api.close();
    }
  }, options);
}

/** The fleet's text: grouped outputs (or prefixed lines), then warnings for the others. */
export function renderFleet(
  result: FleetDiag,
  options: { readonly prefix: boolean; readonly maxFailures: number | undefined },
): { readonly out: string; readonly warnings: readonly string[] } {
  const done = result.outcomes.flatMap((o) =>
    o.status === "ok" ? [{ node: o.node, output: renderDiag(o.value) }] : []
  );
  const out = options.prefix
    ? done.map((d) => prefixLines(d.node, d.output)).join("")
    : renderGroups(groupByOutput(done));
  return { out, warnings: problemLines(result, options.maxFailures) };
}

/** The fleet as `--json` emits it: one record per node. */
export function fleetJson(result: FleetDiag): unknown {
  return {
    nodes: result.outcomes.map((o) =>
      o.status === "ok"
        ? { node: o.node, status: "ok", sources: o.value.sources, ms: o.ms }
        : o.status === "skipped"
        ? { node: o.node, status: "not_started" }
        : { node: o.node, status: o.status, code: o.code, error: o.error, ms: o.ms }
    ),
    stopped: result.stopped,
  };
}
