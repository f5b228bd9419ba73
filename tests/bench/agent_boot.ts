/**
 * Agent boot benchmark (issue 7): wall time from starting the agent process
 * to its readiness file, against a pact-journal on loopback with an overlay
 * of 5 services (a dependency chain), 3 sysctls and 2 files; each run boots
 * a fresh sandbox node (no cache: the config comes from the journal). Then
 * the idle agent: RSS and CPU over a few seconds after ready, once its boot
 * record is journaled. Run alone with `deno run -A tests/bench/agent_boot.ts
 * [--runs=N]`, or as the `agent-boot` phase of `tests/bench/run.ts`.
 */
import { JournalClient } from "../../cli/client/journal_client.ts";
import { DeclaredState, ServiceDecl } from "../../shared/proto/gen/pact/config/config.ts";
import { overlayUpdate } from "../../shared/testing/entries.ts";
import {
  BootAgentProcess,
  removeSandboxNode,
  sandboxNode,
  waitForFile,
} from "../harness/boot_agent_process.ts";
import { JournalProcess } from "../harness/journal_process.ts";
import { type Percentiles, percentiles } from "./stats.ts";

/** What the agent-boot phase measured. */
export interface AgentBootResults {
  readonly runs: number;
  readonly services: number;
  /** Process spawn to the ready file, measured outside the agent (ms). */
  readonly startToReadyMs: Percentiles;
  /** The agent's own total_ms (from its runtime's start to ready). */
  readonly reportedTotalMs: Percentiles;
  /** Mean duration of each boot phase across runs (ms). */
  readonly phaseMeanMs: Readonly<Record<string, number>>;
  readonly idle: {
    readonly windowMs: number;
    readonly rssMiB: number;
    /** CPU time used in the window, as a share of one core. */
    readonly cpuPercent: number;
  };
}

const SERVICES = 5;
const IDLE_WINDOW_MS = 5_000;
const READY_TIMEOUT_MS = 30_000;

function overlay(): DeclaredState {
  const services = Array.from({ length: SERVICES }, (_, i) =>
    ServiceDecl.fromPartial({
      name: `svc${i}`,
      binary: "/bin/sleep",
      args: ["3600"],
      restartPolicy: "on_failure",
      dependsOn: i === 0 ? [] : [`svc${i - 1}`],
    }));
  const encoder = new TextEncoder();
  return DeclaredState.fromPartial({
    sysctl: { "vm.swappiness": "10", "kernel.pid_max": "65536", "net.core.somaxconn": "8192" },
    files: [
      { path: "/etc/motd", content: encoder.encode("bench node\n"), mode: "0644" },
      { path: "/etc/pact-bench/limits.conf", content: encoder.encode("* hard nofile 1048576\n") },
    ],
    services,
  });
}

/** Runs the benchmark: `runs` boots, then the idle measurement on one more. */
export async function agentBootBench(
  runs: number,
  log: (line: string) => void,
): Promise<AgentBootResults> {
  const journal = await JournalProcess.start();
  try {
    const admin = new JournalClient({
      endpoint: journal.endpoint,
      token: await journal.token(),
      timeoutSeconds: 10,
    });
    await admin.appendEntry({
      entry: overlayUpdate("bench", DeclaredState.encode(overlay()).finish()),
    });
    admin.close();
    const env = {
      PACT_AGENT_TOKEN: await journal.token("pact-service-agent", "agent-bench", "agent"),
    };
    const wall: number[] = [];
    const reported: number[] = [];
    const phaseSums = new Map<string, number>();
    for (let run = 0; run <= runs; run++) {
      const node = await sandboxNode(`bench-${run}`, "bench", [journal.grpcAddress]);
      const started = performance.now();
      const agent = BootAgentProcess.start(["--config", node.configPath], env);
      try {
        await waitForFile(`${node.root}/run/pact/ready`, READY_TIMEOUT_MS, 2);
        const ms = performance.now() - started;
        const line = await agent.waitForLine(/boot: ready in \d+ ms/);
        if (run === runs) {
          // The extra run: idle figures once the boot record is journaled.
          await agent.waitForLine(/boot record journaled/);
          const idle = await idleUsage(agent.pid, IDLE_WINDOW_MS);
          log(
            `agent-boot: idle ${idle.rssMiB.toFixed(1)} MiB RSS, ${
              idle.cpuPercent.toFixed(2)
            } % CPU`,
          );
          return {
            runs,
            services: SERVICES,
            startToReadyMs: percentiles(wall),
            reportedTotalMs: percentiles(reported),
            phaseMeanMs: Object.fromEntries(
              [...phaseSums].map(([name, sum]) => [name, Math.round((sum / runs) * 10) / 10]),
            ),
            idle: { windowMs: IDLE_WINDOW_MS, ...idle },
          };
        }
        wall.push(ms);
        reported.push(Number(/ready in (\d+) ms/.exec(line)![1]));
        for (const m of agent.log.matchAll(/^boot: ok {3}(\w+)\s+(\d+) ms/gm)) {
          phaseSums.set(m[1]!, (phaseSums.get(m[1]!) ?? 0) + Number(m[2]));
        }
        log(`agent-boot: run ${run + 1}/${runs}: ready after ${ms.toFixed(0)} ms`);
      } catch (err) {
        log(`agent-boot: run ${run + 1} failed; agent log:\n${agent.log}`);
        throw err;
      } finally {
        const status = await agent.stop();
        await removeSandboxNode(node);
        if (status.code !== 0 && status.signal === null) {
          log(`agent-boot: agent exited with ${status.code}:\n${agent.log}`);
        }
      }
    }
    throw new Error("unreachable");
  } finally {
    await journal.stop();
    await journal.dispose();
  }
}

/** RSS at the end of the window and CPU used during it, from /proc/<pid>. */
async function idleUsage(pid: number, windowMs: number) {
  const ticks = async () => {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14, 15)
  };
  const before = await ticks();
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const used = await ticks() - before;
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
  const clockTicks = 100; // USER_HZ on Linux
  return { rssMiB: rssKb / 1024, cpuPercent: (used / clockTicks) / (windowMs / 1000) * 100 };
}

/** The results as a few lines of text. */
export function renderAgentBoot(r: AgentBootResults): string {
  const f = (x: number) => x.toFixed(0);
  return [
    `Agent start → ready (${r.runs} runs, ${r.services} services, journal on loopback; target p50 < 1000 ms)`,
    `  wall, spawn → ready file:    p50 ${f(r.startToReadyMs.p50)} ms, p90 ${
      f(r.startToReadyMs.p90)
    } ms, max ${f(r.startToReadyMs.max)} ms`,
    `  agent's own total_ms:        p50 ${f(r.reportedTotalMs.p50)} ms, p90 ${
      f(r.reportedTotalMs.p90)
    } ms`,
    `  mean phase ms: ${Object.entries(r.phaseMeanMs).map(([n, ms]) => `${n} ${ms}`).join(", ")}`,
    `  idle after ready (${r.idle.windowMs / 1000} s): RSS ${r.idle.rssMiB.toFixed(1)} MiB, CPU ${
      r.idle.cpuPercent.toFixed(2)
    } % of one core`,
  ].join("\n");
}

if (import.meta.main) {
  const runsArg = Deno.args.find((a) => a.startsWith("--runs="));
  const runs = runsArg === undefined ? 20 : Number(runsArg.slice("--runs=".length));
  if (!Number.isInteger(runs) || runs < 1) {
    console.error(`agent_boot: --runs must be a whole number ≥ 1, got ${runsArg}`);
    Deno.exit(2);
  }
  const results = await agentBootBench(runs, (line) => console.error(line));
  console.log(renderAgentBoot(results));
  console.log(JSON.stringify(results));
  Deno.exit(0);
}
