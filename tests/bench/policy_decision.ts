/**
 * Policy decision latency (issue 4): the journal's PolicyEngine deciding
 * writes on a state of 1,000 nodes in 10 vClusters, with the built-in RBAC
 * path (target p99 ≤ 1 ms) and with OPA on loopback (the Data API stand-in
 * in its own process). Baselines in the same run: a resolved promise (the
 * floor of an async decision) for the built-in path, and a raw POST of the
 * same input to the same endpoint for the OPA path, so the ratios show what
 * the engine adds. Run alone with `deno run -A tests/bench/policy_decision.ts
 * [--quick]`, or as the `policy` phase of `tests/bench/run.ts`.
 */
import type { Principal } from "../../shared/auth/principal.ts";
import { ManualClock } from "../../shared/clock/clock.ts";
import { EnrollmentRecord, EntryType } from "../../shared/proto/gen/pact/config/config.ts";
import { entry, policyUpdate } from "../../shared/testing/entries.ts";
import type { Action } from "../../journal/policy/actions.ts";
import { PolicyEngine } from "../../journal/policy/engine.ts";
import { OpaClient } from "../../journal/policy/opa_client.ts";
import { applyEntry } from "../../journal/state/reduce.ts";
import { emptyState, type JournalState } from "../../journal/state/state.ts";
import { ROOT } from "../harness/paths.ts";
import { type Percentiles, percentiles } from "./stats.ts";
import { table } from "./table.ts";

/** How many decisions each path makes. */
export interface PolicyCounts {
  readonly builtIn: number;
  readonly opa: number;
}

export const POLICY_FULL: PolicyCounts = { builtIn: 20_000, opa: 2_000 };
export const POLICY_QUICK: PolicyCounts = { builtIn: 2_000, opa: 200 };

/** Latency of one way of deciding. */
export interface DecisionPath {
  readonly decisions: number;
  readonly latencyMs: Percentiles;
  readonly allowed: number;
  /** Decisions the engine reported as made with OPA (engine paths only). */
  readonly byOpa?: number;
}

export interface PolicyResults {
  readonly nodes: number;
  readonly vclusters: number;
  readonly builtIn: DecisionPath;
  /** `await Promise.resolve()` per decision: the floor of any async decision. */
  readonly asyncFloor: DecisionPath;
  readonly opa: DecisionPath;
  /** A raw POST of one decision's input to the same OPA endpoint. */
  readonly rawOpaPost: DecisionPath;
}

const NODES = 1000;
const VCLUSTERS = 10;

/** Node n<i> in vCluster vc<i mod 10>; every vCluster has a policy. */
function fleet(): JournalState {
  let state = emptyState();
  let sequence = 0;
  const add = (e: ReturnType<typeof entry>) => {
    state = applyEntry(state, { ...e, sequence, timestamp: new Date(1_000 + sequence) });
    sequence++;
  };
  for (let v = 0; v < VCLUSTERS; v++) add(policyUpdate(`vc${v}`, { enforcementMode: "enforce" }));
  for (let n = 0; n < NODES; n++) {
    add(entry(EntryType.NODE_ASSIGNED, { kind: "node", id: `n${n}` }, {
      payload: {
        $case: "enrollment",
        value: EnrollmentRecord.fromPartial({ vclusterId: `vc${n % VCLUSTERS}` }),
      },
    }));
  }
  return state;
}

/** The requests decided, round-robin: allowed and denied, several roles and actions. */
function requests(): { principal: Principal; action: Action; node: string }[] {
  const ops: Principal = { principal: "ops@site", principalType: "human", role: "pact-ops-vc3" };
  const viewer: Principal = {
    principal: "viewer@site",
    principalType: "human",
    role: "pact-viewer-vc3",
  };
  const admin: Principal = {
    principal: "admin@site",
    principalType: "human",
    role: "pact-platform-admin",
  };
  const agent: Principal = { principal: "n3", principalType: "agent", role: "pact-service-agent" };
  return [
    { principal: ops, action: "commit", node: "n3" },
    { principal: ops, action: "commit", node: "n4" },
    { principal: viewer, action: "status", node: "n13" },
    { principal: viewer, action: "commit", node: "n13" },
    { principal: admin, action: "exec", node: "n999" },
    { principal: agent, action: "record", node: "n3" },
  ];
}

async function timed(
  count: number,
  decide: (i: number) => Promise<boolean>,
): Promise<DecisionPath> {
  const samples: number[] = [];
  let allowed = 0;
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    if (await decide(i)) allowed++;
    samples.push(performance.now() - started);
  }
  return { decisions: count, latencyMs: percentiles(samples), allowed };
}

/** Runs both paths and their baselines. */
export async function policyBench(
  counts: PolicyCounts,
  log: (message: string) => void,
): Promise<PolicyResults> {
  const state = fleet();
  const asks = requests();
  const clock = new ManualClock(Date.UTC(2026, 10, 22));
  const builtInEngine = new PolicyEngine({ clock });
  const decideWith = (engine: PolicyEngine, list = asks) => async (i: number) => {
    const ask = list[i % list.length]!;
    const decision = await engine.authorize(state, {
      principal: ask.principal,
      action: ask.action,
      scope: { kind: "node", id: ask.node },
    });
    return decision.kind === "allow";
  };
  log(`policy: ${counts.builtIn} built-in decisions over ${NODES} nodes in ${VCLUSTERS} vClusters`);
  await timed(Math.min(1000, counts.builtIn), decideWith(builtInEngine)); // warm-up
  const builtIn = await timed(counts.builtIn, decideWith(builtInEngine));
  const asyncFloor = await timed(counts.builtIn, async () => {
    await Promise.resolve();
    return true;
  });

  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-net", `${ROOT}/tests/bench/opa_stand_in.ts`],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("The OPA stand-in exited before it printed its endpoint");
      text += value;
    }
    reader.releaseLock();
    void child.stdout.cancel().catch(() => {});
    const endpoint = text.trim();
    log(`policy: ${counts.opa} decisions with OPA at ${endpoint} (another process)`);
    let byOpa = 0;
    const opaEngine = new PolicyEngine({
      clock,
      opa: new OpaClient({ endpoint, timeoutMs: 1000 }),
      hooks: { onDecision: (_outcome, engine) => void (engine === "opa" && byOpa++) },
    });
    // Only state changes RBAC allows reach OPA: time those (an own-vCluster
    // commit, a platform admin's exec), not reads or RBAC denials.
    const opaAsks = asks.filter((a) => a.action === "exec" || a === asks[0]);
    await timed(Math.min(100, counts.opa), decideWith(opaEngine, opaAsks)); // warm-up
    byOpa = 0;
    const opa = { ...await timed(counts.opa, decideWith(opaEngine, opaAsks)), byOpa };
    const body = JSON.stringify({
      input: {
        identity: { principal: "ops@site", principal_type: "human", role: "pact-ops-vc3" },
        action: "commit",
        scope: { node_id: "n3", vcluster_id: "vc3" },
      },
    });
    const rawOpaPost = await timed(counts.opa, async () => {
      const response = await fetch(`${endpoint}/authz`, { method: "POST", body });
      await response.arrayBuffer();
      return response.ok;
    });
    return { nodes: NODES, vclusters: VCLUSTERS, builtIn, asyncFloor, opa, rawOpaPost };
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
}

/** The phase's tables. */
export function renderPolicy(results: PolicyResults): string {
  const row = (label: string, p: DecisionPath) => [
    label,
    String(p.decisions),
    String(p.allowed),
    p.byOpa === undefined ? "-" : String(p.byOpa),
    p.latencyMs.p50.toFixed(4),
    p.latencyMs.p99.toFixed(4),
    p.latencyMs.max.toFixed(3),
  ];
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  return [
    `Policy decisions (${results.nodes} nodes in ${results.vclusters} vClusters; target: built-in p99 <= 1 ms)`,
    table(["path", "decisions", "allowed", "by OPA", "p50 ms", "p99 ms", "max ms"], [
      row("built-in RBAC (PolicyEngine, no OPA)", results.builtIn),
      row("floor: await Promise.resolve()", results.asyncFloor),
      row("RBAC + OPA on loopback (PolicyEngine, writes)", results.opa),
      row("floor: raw POST to the same OPA endpoint", results.rawOpaPost),
    ]),
    "",
    table(["ratio (p50)", "value"], [
      [
        "engine with OPA / raw POST",
        ratio(results.opa.latencyMs.p50, results.rawOpaPost.latencyMs.p50),
      ],
    ]),
  ].join("\n");
}

if (import.meta.main) {
  const counts = Deno.args.includes("--quick") ? POLICY_QUICK : POLICY_FULL;
  const results = await policyBench(counts, (m) => console.error(`[bench] ${m}`));
  console.log(renderPolicy(results));
}
