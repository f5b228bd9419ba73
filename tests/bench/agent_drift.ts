/**
 * Agent drift benchmark (issue 6): change-to-DriftDetected-in-journal
 * latency, and the agent's idle CPU and RSS while it watches 1,000 files.
 * The agent runs in this process over a sandbox host; the journal is a real
 * pact-journal process. Run: `npx deno run -A tests/bench/agent_drift.ts
 * [--paths=1000] [--changes=300] [--idle-seconds=20]`.
 *
 * Latency is measured from just before the file write to the journal's
 * acknowledgement of the DriftDetected append (the entry is durable then).
 */
import { JournalClient } from "../../cli/client/journal_client.ts";
import { systemClock } from "../../shared/clock/clock.ts";
import type { ConfigEntry } from "../../shared/proto/gen/pact/config/config.ts";
import { parseAgentConfig } from "../../agent/config.ts";
import { sandboxHost, writeSandbox } from "../../agent/host/sandbox_host.ts";
import { JournalEntrySink } from "../../agent/journal_sink.ts";
import { NodeAgent } from "../../agent/node_agent.ts";
import { JournalProcess } from "../harness/journal_process.ts";
import { percentiles } from "./stats.ts";

const flag = (name: string, fallback: number) =>
  Number(Deno.args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback);
const PATHS = flag("paths", 1000);
const CHANGES = Math.min(flag("changes", 300), PATHS);
const IDLE_SECONDS = flag("idle-seconds", 20);
const TICKS_PER_SECOND = 100; // getconf CLK_TCK on Linux

/** CPU seconds (user + system) this process has used, from /proc/self/stat. */
async function cpuSeconds(): Promise<number> {
  const stat = await Deno.readTextFile("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

const journal = await JournalProcess.start();
const root = await Deno.makeTempDir({ prefix: "pact-bench-agent-" });
const client = new JournalClient({
  endpoint: journal.endpoint,
  token: await journal.token("pact-service-agent", "bench-node", "agent"),
  timeoutSeconds: 10,
});
try {
  const files: Record<string, string> = {};
  for (let i = 0; i < PATHS; i++) {
    files[`/etc/bench/f${String(i).padStart(4, "0")}.conf`] = `v0 ${i}\n`;
  }
  await writeSandbox(root, { files });
  const config = parseAgentConfig(
    `[agent]\nnode_id = "bench-node"\nenforcement_mode = "observe"\n[agent.observer]\nwatch_paths = ["/etc/bench"]\n`,
    "agent.toml",
    {},
    () => undefined,
  );
  const acked = new Map<string, number>();
  const sink = new JournalEntrySink(client);
  const agent = new NodeAgent({
    config,
    host: sandboxHost(root),
    journal: {
      append: async (entry: ConfigEntry) => {
        const sequence = await sink.append(entry);
        const path = entry.payload?.$case === "stateDelta"
          ? entry.payload.value.files[0]?.path
          : undefined;
        if (path !== undefined) acked.set(path, performance.now());
        return sequence;
      },
    },
    clock: systemClock,
    log: () => {},
  });
  const startedAt = performance.now();
  await agent.start();
  const startMs = performance.now() - startedAt;

  // Idle: 1,000 watched files, nothing changes.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const cpuBefore = await cpuSeconds();
  const idleStart = performance.now();
  await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
  const idleCpuPercent = (await cpuSeconds() - cpuBefore) /
    ((performance.now() - idleStart) / 1000) * 100;
  const rssMiB = Deno.memoryUsage().rss / 1024 / 1024;

  // Latency: one change at a time, each to a different file.
  const samples: number[] = [];
  for (let i = 0; i < CHANGES; i++) {
    const path = `/etc/bench/f${String(i).padStart(4, "0")}.conf`;
    const before = performance.now();
    await Deno.writeTextFile(`${root}${path}`, `v1 ${i}\n`);
    while (!acked.has(path) && performance.now() - before < 5_000) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const at = acked.get(path);
    if (at === undefined) throw new Error(`no DriftDetected for ${path} within 5 s`);
    samples.push(at - before);
  }
  await agent.stop();
  const latency = percentiles(samples);
  console.log(JSON.stringify(
    {
      watchedPaths: PATHS,
      changes: CHANGES,
      agentStartMs: Math.round(startMs),
      latencyMs: {
        p50: +latency.p50.toFixed(1),
        p90: +latency.p90.toFixed(1),
        p99: +latency.p99.toFixed(1),
        max: +latency.max.toFixed(1),
      },
      idleSeconds: IDLE_SECONDS,
      idleCpuPercent: +idleCpuPercent.toFixed(2),
      rssMiB: +rssMiB.toFixed(1),
      processCpuSecondsTotal: await cpuSeconds(),
    },
    null,
    2,
  ));
} finally {
  client.close();
  await journal.dispose();
  await Deno.remove(root, { recursive: true });
}
