/**
 * Fleet fan-out for `pact diag --vcluster` and `pact exec --vcluster`: the
 * vCluster's nodes come from the journal's node registry (ListNodes, with
 * the shell address each agent reported, with its scheme (https for a shell
 * serving TLS: each node's call then uses TLS and checks that the
 * certificate names that node), else `<node-id>:9445`); one call
 * per node runs with bounded concurrency and a per-node timeout; once more
 * than `maxFailures` nodes failed no new node is started. Results print
 * grouped by identical output, like `dshbak -c`: nodes with the same
 * output are printed once under their compressed node list.
 *
 * Exit code of a fleet command (fleetExitCode): 0 when every node
 * succeeded, 5 when every node was unreachable, 1 otherwise (some node
 * failed, was unreachable or was not started).
 */
import { EnrollmentState } from "../../shared/proto/gen/pact/config/config.ts";
import type {
  ListNodesRequest,
  ListNodesResponse,
} from "../../shared/proto/gen/pact/enrollment/enrollment.ts";
import { isPactError, PactError } from "../../shared/errors/mod.ts";

/** Default number of nodes called at once. */
export const FANOUT_CONCURRENCY_DEFAULT = 50;
/** Most nodes called at once. */
export const FANOUT_CONCURRENCY_MAX = 1_000;
/** Default time one node gets before it counts as unreachable. */
export const FANOUT_NODE_TIMEOUT_MS_DEFAULT = 30_000;
/** Port of an agent's shell server when the registry knows no address. */
export const AGENT_SHELL_PORT = 9445;

/** One node to call and where its agent listens. */
export interface FanoutTarget {
  readonly node: string;
  /** `http://host:port`, or `https://host:port` for an agent serving TLS. */
  readonly endpoint: string;
}

/** How the fan-out runs. */
export interface FanoutOptions {
  /** Nodes called at once (1..FANOUT_CONCURRENCY_MAX). */
  readonly concurrency: number;
  /** Time one node gets; its signal aborts then and it counts as unreachable. */
  readonly nodeTimeoutMs: number;
  /** Stop starting nodes once more than this many failed; undefined: never stop. */
  readonly maxFailures: number | undefined;
  /** Called after each node finishes (for a progress line). */
  readonly onProgress?: ((progress: FanoutProgress) => void) | undefined;
}

/** How far a fan-out is. */
export interface FanoutProgress {
  readonly done: number;
  readonly total: number;
  readonly failed: number;
}

/** What happened on one node. */
export type NodeOutcome<T> =
  | { readonly node: string; readonly status: "ok"; readonly value: T; readonly ms: number }
  | {
    readonly node: string;
    /** `unreachable`: no answer (down, refused, timed out); `failed`: the agent refused or erred. */
    readonly status: "unreachable" | "failed";
    readonly error: string;
    readonly code: string;
    readonly ms: number;
  }
  | { readonly node: string; readonly status: "skipped" };

/** Every node's outcome, in target order. */
export interface FanoutResult<T> {
  readonly outcomes: readonly NodeOutcome<T>[];
  /** True when the failure threshold stopped the rollout. */
  readonly stopped: boolean;
}

/** Calls `work` once per target; never throws for a node's failure. */
export async function fanOut<T>(
  targets: readonly FanoutTarget[],
  work: (target: FanoutTarget, signal: AbortSignal) => Promise<T>,
  options: FanoutOptions,
): Promise<FanoutResult<T>> {
  checkOptions(options);
  const outcomes: NodeOutcome<T>[] = targets.map((t) => ({ node: t.node, status: "skipped" }));
  let next = 0;
  let done = 0;
  let failed = 0;
  let stopped = false;
  const overThreshold = () => options.maxFailures !== undefined && failed > options.maxFailures;
  const worker = async () => {
    while (next < targets.length) {
      if (overThreshold()) {
        stopped = true;
        return;
      }
      const index = next++;
      const outcome = await callOne(targets[index]!, work, options.nodeTimeoutMs);
      outcomes[index] = outcome;
      done++;
      if (outcome.status !== "ok") failed++;
      options.onProgress?.({ done, total: targets.length, failed });
    }
  };
  const workers = Math.min(options.concurrency, targets.length);
  await Promise.all(Array.from({ length: workers }, worker));
  return { outcomes, stopped: stopped && outcomes.some((o) => o.status === "skipped") };
}

function checkOptions(options: FanoutOptions): void {
  const { concurrency, nodeTimeoutMs, maxFailures } = options;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > FANOUT_CONCURRENCY_MAX) {
    throw new RangeError(`concurrency must be 1..${FANOUT_CONCURRENCY_MAX}: ${concurrency}`);
  }
  if (!(nodeTimeoutMs > 0)) throw new RangeError(`nodeTimeoutMs must be > 0: ${nodeTimeoutMs}`);
  if (maxFailures !== undefined && !(Number.isInteger(maxFailures) && maxFailures >= 0)) {
    throw new RangeError(`maxFailures must be a whole number >= 0: ${maxFailures}`);
  }
}

async function callOne<T>(
  target: FanoutTarget,
  work: (target: FanoutTarget, signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
): Promise<NodeOutcome<T>> {
  const started = performance.now();
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new PactError("TIMEOUT", `no answer within ${seconds(timeoutMs)}`));
    }, timeoutMs);
  });
  try {
    const value = await Promise.race([work(target, controller.signal), timedOut]);
    return { node: target.node, status: "ok", value, ms: elapsed(started) };
  } catch (err) {
    const code = isPactError(err) ? err.code : "INTERNAL";
    return {
      node: target.node,
      status: UNREACHABLE_CODES.has(code) ? "unreachable" : "failed",
      error: (err as Error)?.message ?? String(err),
      code,
      ms: elapsed(started),
    };
  } finally {
    clearTimeout(timer);
  }
}

const UNREACHABLE_CODES = new Set(["UNAVAILABLE", "TIMEOUT"]);

function elapsed(startedMs: number): number {
  return Math.round(performance.now() - startedMs);
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/**
 * One node's record in a fleet command's `--json` output: the node's own
 * fields when it answered, else its status and error; with `elapsed_ms`,
 * the wall time the node took as seen from the CLI (connect, call, answer)
 * for every node that was started.
 */
export function outcomeJson<T>(
  outcome: NodeOutcome<T>,
  okFields: (value: T) => Record<string, unknown>,
): Record<string, unknown> {
  switch (outcome.status) {
    case "ok":
      return { ...okFields(outcome.value), elapsed_ms: outcome.ms };
    case "skipped":
      return { node: outcome.node, status: outcome.status };
    default:
      return {
        node: outcome.node,
        status: outcome.status,
        error: outcome.error,
        elapsed_ms: outcome.ms,
      };
  }
}

/** The ListNodes call fleet resolution makes (EnrollmentClient, or a fake). */
export interface NodeRegistry {
  listNodes(request: ListNodesRequest): Promise<ListNodesResponse>;
}

/**
 * The nodes of `vcluster` and their agents' addresses (revoked nodes
 * left out); throws NOT_FOUND "no nodes found" for an empty vCluster.
 */
export async function fleetTargets(
  registry: NodeRegistry,
  vcluster: string,
): Promise<FanoutTarget[]> {
  const { nodes } = await registry.listNodes({
    state: EnrollmentState.UNSPECIFIED,
    vclusterId: vcluster,
    unassigned: false,
  });
  const targets = nodes
    .filter((n) => n.state !== EnrollmentState.REVOKED)
    .map((n) => ({ node: n.nodeId, endpoint: agentAddress(n.nodeId, n.shellAddress) }));
  if (targets.length === 0) {
    throw new PactError("NOT_FOUND", `No nodes found in vCluster ${vcluster}`);
  }
  return targets;
}

/**
 * The address the agent reported as it is (`https://host:port` for a
 * shell serving TLS), `http://` before one without a scheme (agents that
 * predate TLS), else `http://<node-id>:9445`.
 */
export function agentAddress(node: string, reported: string): string {
  if (reported === "") return `http://${node}:${AGENT_SHELL_PORT}`;
  return /^https?:\/\//i.test(reported) ? reported : `http://${reported}`;
}

/** One group of nodes that produced the same output. */
export interface OutputGroup {
  readonly nodes: readonly string[];
  readonly output: string;
}

/** Groups node outputs by identical text, in order of first appearance. */
export function groupByOutput(
  results: readonly { readonly node: string; readonly output: string }[],
): OutputGroup[] {
  const groups = new Map<string, string[]>();
  for (const { node, output } of results) {
    const nodes = groups.get(output);
    if (nodes) nodes.push(node);
    else groups.set(output, [node]);
  }
  return [...groups].map(([output, nodes]) => ({ nodes, output }));
}

/**
 * A node list in ranges: node001,node002,node003,node007 →
 * `node[001-003,007]`. Names group by prefix and, for zero-padded numbers,
 * their width (node1 is not node001; node100 joins node001's group), in
 * order of first appearance; a name alone in its group, or without a
 * trailing number, is printed as it is. Duplicates count once.
 */
export function compressNodeList(nodes: readonly string[]): string {
  const parsed = [...new Set(nodes)].map(
    (node): { node: string; prefix: string; digits: string } => {
      const match = /^(.*?)(\d+)$/.exec(node);
      return { node, prefix: match?.[1] ?? node, digits: match?.[2] ?? "" };
    },
  );
  const paddedWidths = new Set(
    parsed.flatMap((p) =>
      p.digits.length > 1 && p.digits.startsWith("0") ? [`${p.prefix}\u0000${p.digits.length}`] : []
    ),
  );
  const groups = new Map<string, { prefix: string; width: number; numbers: number[] }>();
  for (const p of parsed) {
    if (p.digits === "") {
      groups.set(`\u0001${p.node}`, { prefix: p.node, width: 0, numbers: [] });
      continue;
    }
    const padded = `${p.prefix}\u0000${p.digits.length}`;
    const key = paddedWidths.has(padded) ? padded : `${p.prefix}\u0000`;
    const width = paddedWidths.has(padded) ? p.digits.length : 0;
    const group = groups.get(key) ?? { prefix: p.prefix, width, numbers: [] };
    group.numbers.push(Number(p.digits));
    groups.set(key, group);
  }
  return [...groups.values()].map(({ prefix, width, numbers }) => {
    if (numbers.length === 0) return prefix;
    const pad = (n: number) => String(n).padStart(width, "0");
    if (numbers.length === 1) return `${prefix}${pad(numbers[0]!)}`;
    const parts = ranges(numbers).map(([a, b]) => a === b ? pad(a) : `${pad(a)}-${pad(b)}`);
    return `${prefix}[${parts.join(",")}]`;
  }).join(",");
}

function ranges(numbers: readonly number[]): [number, number][] {
  const sorted = [...numbers].sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (const n of sorted) {
    const last = out.at(-1);
    if (last && n === last[1] + 1) last[1] = n;
    else out.push([n, n]);
  }
  return out;
}

const RULE = "----------------";

/** `dshbak -c` style: a ruled header with the compressed node list, then the output. */
export function renderGroups(groups: readonly OutputGroup[]): string {
  return groups.map((g) => {
    const body = g.output === "" || g.output.endsWith("\n") ? g.output : `${g.output}\n`;
    return `${RULE}\n${compressNodeList(g.nodes)}\n${RULE}\n${body}`;
  }).join("");
}

/** Every line of `output` prefixed with `[node] `. */
export function prefixLines(node: string, output: string): string {
  if (output === "") return "";
  const lines = output.endsWith("\n") ? output.slice(0, -1).split("\n") : output.split("\n");
  return lines.map((line) => `[${node}] ${line}\n`).join("");
}

/**
 * The lines for nodes without a result: `[WARN] <node>: unreachable
 * (<reason>)`, `[ERROR] <node>: <message>`, and one line for the nodes the
 * threshold kept from starting.
 */
export function problemLines<T>(
  result: FanoutResult<T>,
  maxFailures: number | undefined,
): string[] {
  const lines: string[] = [];
  for (const o of result.outcomes) {
    if (o.status === "unreachable") lines.push(`[WARN] ${o.node}: unreachable (${o.error})`);
    else if (o.status === "failed") lines.push(`[ERROR] ${o.node}: ${o.error}`);
  }
  const skipped = result.outcomes.filter((o) => o.status === "skipped").map((o) => o.node);
  if (skipped.length > 0) {
    lines.push(
      `[WARN] stopped after more than ${maxFailures} failed node(s) (--max-failures): ` +
        `${skipped.length} node(s) not started: ${compressNodeList(skipped)}`,
    );
  }
  return lines;
}

/** `N nodes: a ok, b unreachable, c failed, d not started`. */
export function summaryLine<T>(result: FanoutResult<T>): string {
  const count = (status: NodeOutcome<T>["status"]) =>
    result.outcomes.filter((o) => o.status === status).length;
  const parts = [
    `${count("ok")} ok`,
    `${count("unreachable")} unreachable`,
    `${count("failed")} failed`,
  ];
  const skipped = count("skipped");
  if (skipped > 0) parts.push(`${skipped} not started`);
  return `${result.outcomes.length} node(s): ${parts.join(", ")}`;
}

/** 0: every node ok; 5: every node unreachable; 1: anything else. */
export function fleetExitCode<T>(result: FanoutResult<T>): number {
  const { outcomes } = result;
  if (outcomes.every((o) => o.status === "ok")) return 0;
  if (outcomes.every((o) => o.status === "unreachable")) return 5;
  return 1;
}

/** Parses `--concurrency`, `--node-timeout` (seconds) and `--max-failures` flags. */
export function fanoutOptionsOf(flags: {
  readonly concurrency?: string | undefined;
  readonly nodeTimeout?: string | undefined;
  readonly maxFailures?: string | undefined;
}): Omit<FanoutOptions, "onProgress"> {
  const whole = (name: string, text: string, min: number, max: number) => {
    const n = Number(text);
    if (!/^\d+$/.test(text.trim()) || n < min || n > max) {
      throw new PactError(
        "INVALID_ARGUMENT",
        `Invalid ${name} ${JSON.stringify(text)}: expected a whole number from ${min} to ${max}`,
      );
    }
    return n;
  };
  return {
    concurrency: flags.concurrency === undefined
      ? FANOUT_CONCURRENCY_DEFAULT
      : whole("--concurrency", flags.concurrency, 1, FANOUT_CONCURRENCY_MAX),
    nodeTimeoutMs: flags.nodeTimeout === undefined
      ? FANOUT_NODE_TIMEOUT_MS_DEFAULT
      : whole("--node-timeout", flags.nodeTimeout, 1, 3600) * 1000,
    maxFailures: flags.maxFailures === undefined
      ? undefined
      : whole("--max-failures", flags.maxFailures, 0, 1_000_000),
  };
}
