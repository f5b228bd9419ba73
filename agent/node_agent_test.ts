import assert from "node:assert/strict";
import { ManualClock } from "../shared/clock/clock.ts";
import {
  type ConfigEntry,
  ConfigState,
  DeclaredState,
  EntryType,
  VClusterPolicy,
} from "../shared/proto/gen/pact/config/config.ts";
import { parseAgentConfig } from "./config.ts";
import { configStateOf } from "./drift/node_state.ts";
import { type SandboxContents, sandboxHost, writeSandbox } from "./host/sandbox_host.ts";
import { type EntrySink, NodeAgent } from "./node_agent.ts";
import type { Interval } from "./observe/file_observer.ts";

/** An Interval that never fires: the test drives sweeps, probes and ticks. */
const manualInterval: Interval = () => () => {};

/** Keeps appended entries in memory, numbering them like a journal. */
class MemorySink implements EntrySink {
  readonly entries: ConfigEntry[] = [];
  append(entry: ConfigEntry): Promise<number> {
    this.entries.push(entry);
    return Promise.resolve(this.entries.length);
  }
  types(): string[] {
    return this.entries.map((e) => EntryType[e.entryType]);
  }
}

async function withAgent(
  contents: SandboxContents,
  body: (
    ctx: { agent: NodeAgent; root: string; sink: MemorySink; clock: ManualClock },
  ) => Promise<void>,
  mode = "enforce",
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "pact-agent-" });
  await writeSandbox(root, contents);
  const config = parseAgentConfig(
    `[agent]\nnode_id = "node-1"\nenforcement_mode = "${mode}"\n[agent.observer]\nwatch_paths = ["/etc/hosts", "/scratch"]\n`,
    "agent.toml",
    {},
    () => undefined,
  );
  const sink = new MemorySink();
  const clock = new ManualClock();
  const agent = new NodeAgent({
    config,
    host: sandboxHost(root),
    journal: sink,
    clock,
    sysctlKeys: ["vm.swappiness"],
    interval: manualInterval,
    log: () => {},
  });
  await agent.start();
  try {
    await body({ agent, root, sink, clock });
  } finally {
    await agent.stop();
    await Deno.remove(root, { recursive: true });
  }
}

const BASE: SandboxContents = {
  files: { "/etc/hosts": "127.0.0.1 localhost\n", "/scratch/data.bin": "weights\n" },
  sysctl: { "vm.swappiness": "60" },
};

Deno.test("NodeAgent journals drift, opens the formula's window and rolls back on expiry", async () => {
  await withAgent(BASE, async ({ agent, root, sink, clock }) => {
    await Deno.writeTextFile(`${root}/etc/hosts`, "10.0.0.66 intruder\n");
    await Deno.writeTextFile(`${root}/proc/sys/vm/swappiness`, "10\n");
    await agent.observeNow();
    assert.deepEqual(sink.types(), ["DRIFT_DETECTED", "DRIFT_DETECTED"]);
    const [file, kernel] = sink.entries;
    assert.equal(file?.scope?.kind?.$case === "nodeId" && file.scope.kind.value, "node-1");
    assert.equal(
      file?.payload?.$case === "stateDelta" && file.payload.value.files[0]?.path,
      "/etc/hosts",
    );
    assert.equal(
      kernel?.payload?.$case === "stateDelta" && kernel.payload.value.kernel[0]?.key,
      "vm.swappiness",
    );
    assert.equal(configStateOf(agent.state), ConfigState.DRIFTED);

    const window = agent.state.window;
    assert.ok(window.kind === "open");
    const magnitude = Math.sqrt(1 + 4);
    assert.equal(window.deadlineMs - window.openedAtMs, Math.round(900_000 / (1 + magnitude * 2)));

    clock.set(window.deadlineMs);
    await agent.send({ type: "tick" });
    assert.equal(await Deno.readTextFile(`${root}/etc/hosts`), "127.0.0.1 localhost\n");
    assert.equal(await Deno.readTextFile(`${root}/proc/sys/vm/swappiness`), "60\n");
    assert.equal(sink.types().at(-1), "ROLLBACK");
    assert.equal(sink.entries.at(-1)?.metadata.ok, "true");
    assert.equal(configStateOf(agent.state), ConfigState.COMMITTED);

    await agent.observeNow();
    assert.equal(sink.entries.length, 3, "the agent's own rollback writes are not drift");
  });
});

Deno.test("NodeAgent leaves a file held by a process alone and journals the refused rollback", async () => {
  await withAgent(
    { ...BASE, processes: { 4242: { command: "python", open: ["/scratch/data.bin"] } } },
    async ({ agent, root, sink, clock }) => {
      await Deno.writeTextFile(`${root}/scratch/data.bin`, "new weights\n");
      await agent.observeNow();
      const window = agent.state.window;
      assert.ok(window.kind === "open");
      clock.set(window.deadlineMs);
      await agent.send({ type: "tick" });
      assert.equal(await Deno.readTextFile(`${root}/scratch/data.bin`), "new weights\n");
      const last = sink.entries.at(-1);
      assert.equal(EntryType[last!.entryType], "ROLLBACK");
      assert.equal(last?.metadata.ok, "false");
      assert.match(last!.message, /pid 4242 \(python\) holds \/scratch\/data\.bin/);
      assert.equal(configStateOf(agent.state), ConfigState.DRIFTED);

      const commit = await agent.send({ type: "commit", author: "ops@x", message: "keep" });
      assert.equal(commit.error, undefined);
      assert.equal(configStateOf(agent.state), ConfigState.COMMITTED);
    },
  );
});

Deno.test("NodeAgent in observe mode journals drift and never touches the node", async () => {
  await withAgent(BASE, async ({ agent, root, sink, clock }) => {
    await Deno.writeTextFile(`${root}/etc/hosts`, "changed\n");
    await agent.observeNow();
    clock.advance(24 * 3600_000);
    await agent.send({ type: "tick" });
    assert.deepEqual(sink.types(), ["DRIFT_DETECTED"]);
    assert.equal(await Deno.readTextFile(`${root}/etc/hosts`), "changed\n");
    assert.equal(configStateOf(agent.state), ConfigState.OBSERVE_ONLY);
  }, "observe");
});

Deno.test("NodeAgent follows its vCluster policy: kernel drift auto-converges at once", async () => {
  await withAgent(BASE, async ({ agent, root, sink }) => {
    await agent.setPolicy(VClusterPolicy.fromPartial({
      vclusterId: "ml-training",
      enforcementMode: "enforce",
      autoConvergeCategories: ["kernel"],
    }));
    await Deno.writeTextFile(`${root}/proc/sys/vm/swappiness`, "1\n");
    await agent.observeNow();
    assert.deepEqual(sink.types(), ["DRIFT_DETECTED", "AUTO_CONVERGE"]);
    assert.equal(await Deno.readTextFile(`${root}/proc/sys/vm/swappiness`), "60\n");
    assert.equal(agent.state.window.kind, "idle", "no window for auto-converged drift");
    await agent.observeNow();
    assert.equal(sink.entries.length, 2, "the converge write is not drift");
  }, "observe");
});

Deno.test("NodeAgent with a declared state shows boot drift and rolls back to the declared values", async () => {
  const root = await Deno.makeTempDir({ prefix: "pact-agent-declared-" });
  await writeSandbox(root, {
    files: { "/etc/motd": "local text\n" },
    sysctl: { "vm.swappiness": "60" },
  });
  const sink = new MemorySink();
  const clock = new ManualClock();
  const agent = new NodeAgent({
    config: parseAgentConfig(
      `[agent]\nnode_id = "node-1"\nenforcement_mode = "enforce"\n`,
      "agent.toml",
      {},
      () => undefined,
    ),
    host: sandboxHost(root),
    journal: sink,
    clock,
    declared: DeclaredState.fromPartial({
      sysctl: { "vm.swappiness": "10" },
      files: [{ path: "/etc/motd", content: new TextEncoder().encode("declared text\n") }],
    }),
    interval: manualInterval,
    log: () => {},
  });
  try {
    await agent.start();
    assert.deepEqual(sink.types(), ["DRIFT_DETECTED", "DRIFT_DETECTED"]);
    const window = agent.state.window;
    assert.ok(window.kind === "open");
    clock.set(window.deadlineMs);
    await agent.send({ type: "tick" });
    assert.equal(await Deno.readTextFile(`${root}/proc/sys/vm/swappiness`), "10\n");
    assert.equal(await Deno.readTextFile(`${root}/etc/motd`), "declared text\n");
    assert.equal(configStateOf(agent.state), ConfigState.COMMITTED);
    await agent.observeNow();
    assert.deepEqual(sink.types(), ["DRIFT_DETECTED", "DRIFT_DETECTED", "ROLLBACK"]);
  } finally {
    await agent.stop();
    await Deno.remove(root, { recursive: true });
  }
});
