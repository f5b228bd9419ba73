/**
 * The agent's drift loop against a real pact-journal process: a change in
 * a sandboxed node becomes a DriftDetected entry in the journal, written
 * with the agent's own token (role pact-service-agent).
 */
import assert from "node:assert/strict";
import { JournalClient } from "../cli/client/journal_client.ts";
import { systemClock } from "../shared/clock/clock.ts";
import { toProtoScope } from "../shared/domain/scope.ts";
import { ConfigState, EntryType } from "../shared/proto/gen/pact/config/config.ts";
import { parseAgentConfig } from "../agent/config.ts";
import { sandboxHost, writeSandbox } from "../agent/host/sandbox_host.ts";
import { JournalEntrySink } from "../agent/journal_sink.ts";
import { DurableQueueSink } from "../agent/journal_queue.ts";
import { NodeAgent } from "../agent/node_agent.ts";
import { JournalProcess } from "./harness/journal_process.ts";
import { AgentClient } from "../cli/client/agent_client.ts";
import { DeclaredState } from "../shared/proto/gen/pact/config/config.ts";
import { overlayUpdate } from "../shared/testing/entries.ts";
import { runPact } from "./harness/cli_process.ts";
import {
  type BootAgentProcess,
  removeSandboxNode,
  sandboxNode,
  startShellAgent,
  TEST_SHELL_AUTH,
} from "./harness/boot_agent_process.ts";

Deno.test("NodeAgent journals a sandbox file change and a sysctl change as DriftDetected", async () => {
  const journal = await JournalProcess.start();
  const root = await Deno.makeTempDir({ prefix: "pact-agent-sandbox-" });
  const agentClient = new JournalClient({
    endpoint: journal.endpoint,
    token: await journal.token("pact-service-agent", "node-7", "agent"),
    timeoutSeconds: 5,
  });
  const adminClient = new JournalClient({
    endpoint: journal.endpoint,
    token: await journal.token(),
    timeoutSeconds: 5,
  });
  const lines: string[] = [];
  let agent: NodeAgent | undefined;
  try {
    await writeSandbox(root, {
      files: { "/etc/pact-demo.conf": "threads = 8\n" },
      sysctl: { "vm.swappiness": "60" },
    });
    const config = parseAgentConfig(
      `[agent]
node_id = "node-7"
enforcement_mode = "enforce"
[agent.journal]
endpoints = ["${journal.grpcAddress}"]
[agent.observer]
watch_paths = ["/etc/pact-demo.conf"]
probe_interval_seconds = 0.2
`,
      "agent.toml",
      {},
      () => undefined,
    );
    agent = new NodeAgent({
      config,
      host: sandboxHost(root),
      journal: new JournalEntrySink(agentClient),
      clock: systemClock,
      sysctlKeys: ["vm.swappiness"],
      log: (line) => lines.push(line),
    });
    await agent.start();

    const changedAt = Date.now();
    await Deno.writeTextFile(`${root}/etc/pact-demo.conf`, "threads = 64\n");
    await Deno.writeTextFile(`${root}/proc/sys/vm/swappiness`, "10\n");

    const scope = toProtoScope({ kind: "node", id: "node-7" });
    let drift: Awaited<ReturnType<JournalClient["listEntries"]>> = [];
    while (drift.length < 2 && Date.now() - changedAt < 5_000) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      drift = await adminClient.listEntries({ scope, entryTypes: [EntryType.DRIFT_DETECTED] });
    }
    const elapsedMs = Date.now() - changedAt;
    assert.equal(drift.length, 2, `journal log:\n${journal.log}\nagent log:\n${lines.join("\n")}`);
    assert.ok(elapsedMs < 1_000, `both changes reached the journal in ${elapsedMs} ms`);

    const file = drift.find((e) =>
      e.payload?.$case === "stateDelta" && e.payload.value.files.length
    );
    const kernel = drift.find((e) =>
      e.payload?.$case === "stateDelta" && e.payload.value.kernel.length
    );
    assert.ok(file?.payload?.$case === "stateDelta");
    assert.equal(file.payload.value.files[0]?.path, "/etc/pact-demo.conf");
    assert.equal(file.metadata.source, "inotify");
    assert.ok(kernel?.payload?.$case === "stateDelta");
    assert.equal(kernel.payload.value.kernel[0]?.key, "vm.swappiness");
    assert.match(kernel.payload.value.kernel[0]!.actualValue, /"60" -> "10"/);
    for (const entry of drift) {
      assert.equal(entry.author?.principal, "node-7", "the journal stamps the agent's identity");
      assert.equal(entry.author?.role, "pact-service-agent");
    }
    const state = await adminClient.getNodeState("node-7");
    assert.equal(state.configState, ConfigState.DRIFTED);
    assert.ok(agent.state.window.kind === "open", "enforce mode opened a commit window");
  } finally {
    await agent?.stop();
    agentClient.close();
    adminClient.close();
    await journal.dispose();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("NodeAgent queues drift on disk while the journal is down and replays it once", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const dataDir = await Deno.makeTempDir({ prefix: "pact-agent-partition-journal-" });
  const root = await Deno.makeTempDir({ prefix: "pact-agent-partition-" });
  let journal = await JournalProcess.start({ dataDir, grpcPort: port });
  const client = new JournalClient({
    endpoint: journal.endpoint,
    token: await journal.token("pact-service-agent", "node-9", "agent"),
    timeoutSeconds: 2,
  });
  let agent: NodeAgent | undefined;
  let queue: DurableQueueSink | undefined;
  try {
    await writeSandbox(root, { files: { "/etc/app.conf": "a\n", "/etc/db.conf": "b\n" } });
    queue = await DurableQueueSink.open({
      inner: new JournalEntrySink(client),
      path: `${root}/var/lib/pact/journal-queue.jsonl`,
      retryBaseMs: 100,
      retryMaxMs: 200,
    });
    const config = parseAgentConfig(
      `[agent]\nnode_id = "node-9"\n[agent.observer]\nwatch_paths = ["/etc/app.conf", "/etc/db.conf"]\n`,
      "agent.toml",
      {},
      () => undefined,
    );
    agent = new NodeAgent({
      config,
      host: sandboxHost(root),
      journal: queue,
      clock: systemClock,
      log: () => {},
    });
    await agent.start();

    await journal.stop(); // partition: the journal is gone
    await Deno.writeTextFile(`${root}/etc/app.conf`, "changed while partitioned\n");
    await Deno.writeTextFile(`${root}/etc/db.conf`, "this too\n");
    await agent.observeNow();
    assert.equal(queue.pending, 2, "both drift entries wait on disk");

    journal = await JournalProcess.start({ dataDir, grpcPort: port });
    const until = Date.now() + 10_000;
    while (queue.pending > 0 && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(queue.pending, 0, `replayed after reconnect:\n${journal.log}`);
    const admin = new JournalClient({
      endpoint: journal.endpoint,
      token: await journal.token(),
      timeoutSeconds: 5,
    });
    try {
      const entries = await admin.listEntries({
        scope: toProtoScope({ kind: "node", id: "node-9" }),
        entryTypes: [EntryType.DRIFT_DETECTED],
      });
      assert.deepEqual(
        entries.map((e) => e.payload?.$case === "stateDelta" && e.payload.value.files[0]?.path),
        ["/etc/app.conf", "/etc/db.conf"],
        "each change once, in the order it happened",
      );
    } finally {
      admin.close();
    }
  } finally {
    await agent?.stop();
    await queue?.close();
    client.close();
    await journal.dispose();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("Two agents in their own sandboxes journal drift on the right node", async () => {
  const journal = await JournalProcess.start();
  const roots: string[] = [];
  const agents: NodeAgent[] = [];
  const clients: JournalClient[] = [];
  const admin = new JournalClient({
    endpoint: journal.endpoint,
    token: await journal.token(),
    timeoutSeconds: 5,
  });
  try {
    for (const node of ["node-a", "node-b"]) {
      const root = await Deno.makeTempDir({ prefix: `pact-${node}-` });
      roots.push(root);
      await writeSandbox(root, {
        files: { "/etc/app.conf": "x\n" },
        sysctl: { "vm.swappiness": "60" },
      });
      const client = new JournalClient({
        endpoint: journal.endpoint,
        token: await journal.token("pact-service-agent", node, "agent"),
        timeoutSeconds: 5,
      });
      clients.push(client);
      const agent = new NodeAgent({
        config: parseAgentConfig(
          `[agent]\nnode_id = "${node}"\nenforcement_mode = "enforce"\n` +
            `[agent.observer]\nwatch_paths = ["/etc/app.conf"]\nprobe_interval_seconds = 0.2\n`,
          "agent.toml",
          {},
          () => undefined,
        ),
        host: sandboxHost(root),
        journal: new JournalEntrySink(client),
        clock: systemClock,
        sysctlKeys: ["vm.swappiness"],
        log: () => {},
      });
      await agent.start();
      agents.push(agent);
    }
    const changedAt = Date.now();
    await Deno.writeTextFile(`${roots[0]}/etc/app.conf`, "changed on a\n");
    await Deno.writeTextFile(`${roots[1]}/proc/sys/vm/swappiness`, "5\n");
    const driftOf = (node: string) =>
      admin.listEntries({
        scope: toProtoScope({ kind: "node", id: node }),
        entryTypes: [EntryType.DRIFT_DETECTED],
      });
    let a = await driftOf("node-a");
    let b = await driftOf("node-b");
    while ((a.length < 1 || b.length < 1) && Date.now() - changedAt < 5_000) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      [a, b] = [await driftOf("node-a"), await driftOf("node-b")];
    }
    assert.ok(Date.now() - changedAt < 1_000, `took ${Date.now() - changedAt} ms`);
    assert.deepEqual(
      a.map((e) => e.payload?.$case === "stateDelta" && e.payload.value.files[0]?.path),
      ["/etc/app.conf"],
      "node-a saw only its file change",
    );
    assert.deepEqual(
      b.map((e) => e.payload?.$case === "stateDelta" && e.payload.value.kernel[0]?.key),
      ["vm.swappiness"],
      "node-b saw only its sysctl change",
    );
    assert.equal(a[0]?.author?.principal, "node-a");
    assert.equal(b[0]?.author?.principal, "node-b");
    // Each window has the formula's length for its own drift: file weight 1, kernel weight 2.
    const [windowA, windowB] = agents.map((agent) => agent.state.window);
    assert.ok(windowA?.kind === "open" && windowB?.kind === "open");
    assert.equal(windowA.deadlineMs - windowA.openedAtMs, 300_000, "900 / (1 + 1 * 2)");
    assert.equal(windowB.deadlineMs - windowB.openedAtMs, 180_000, "900 / (1 + 2 * 2)");
  } finally {
    for (const agent of agents) await agent.stop();
    for (const client of clients) client.close();
    admin.close();
    await journal.dispose();
    for (const root of roots) await Deno.remove(root, { recursive: true });
  }
});

Deno.test("pact commit records the drift as a node delta that survives a reboot; promote and apply supersede it", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "pact-test-commit-delta-" });
  const journal = await JournalProcess.start({ dataDir });
  const node = await sandboxNode("n1", "ml", [journal.grpcAddress]);
  const sysctl = `${node.root}/proc/sys/vm/swappiness`;
  let agent: BootAgentProcess | undefined;
  let probe: AgentClient | undefined;
  try {
    const adminToken = await journal.token();
    const admin = new JournalClient({
      endpoint: journal.endpoint,
      token: adminToken,
      timeoutSeconds: 10,
    });
    const declared = DeclaredState.fromPartial({ sysctl: { "vm.swappiness": "60" } });
    await admin.appendEntry({
      entry: overlayUpdate("ml", DeclaredState.encode(declared).finish()),
    });
    admin.close();
    await Deno.writeTextFile(
      node.configPath,
      (await Deno.readTextFile(node.configPath))
        .replace("[agent]\n", '[agent]\nenforcement_mode = "enforce"\n') +
        ["[agent.observer]", "probe_interval_seconds = 0.2", TEST_SHELL_AUTH].join("\n"),
    );
    const env = { PACT_TOKEN: adminToken, PACT_ENDPOINT: journal.endpoint, PACT_VCLUSTER: "ml" };
    const boot = async () => {
      probe?.close();
      const launched = await startShellAgent(journal, "n1", node.configPath);
      agent = launched.agent;
      probe = new AgentClient({
        endpoint: `http://${launched.address}`,
        token: adminToken,
        timeoutSeconds: 5,
      });
      return launched.address;
    };
    let address = await boot();
    const logs = () => `agent:\n${agent?.log}\njournal:\n${journal.log}`;
    const drift = () => probe!.getDrift();

    // A sysctl changed on the node: drift, and a commit window opens.
    await Deno.writeTextFile(sysctl, "10\n");
    await until("sysctl drift", async () => {
      const r = await drift();
      return r.drift.some((d) => d.key === "vm.swappiness") && r.window?.state === "open";
    }, logs);

    // pact commit: the agent records its drift as the Commit's delta, with the admin as author.
    const commit = await runPact(
      ["commit", "-m", "swappiness 10 for training", "--node", "n1", "--agent", address, "--json"],
      env,
    );
    assert.equal(commit.code, 0, commit.stderr + logs());
    const committed = JSON.parse(commit.stdout);
    assert.equal(committed.recorded_by, "agent");
    assert.deepEqual(
      committed.items.map((i: { dimension: string; key: string; value: string }) => [
        i.dimension,
        i.key,
        i.value,
      ]),
      [["kernel", "vm.swappiness", "10"]],
    );
    const seq = committed.sequence as number;
    const after = await drift();
    assert.deepEqual(after.drift, [], "the committed keys are declared now");
    assert.equal(after.window?.state, "idle", "the commit window is closed");
    const log = await runPact(["log", "--json", "-n", "50"], env);
    assert.equal(log.code, 0, log.stderr);
    const entry = (JSON.parse(log.stdout) as {
      sequence: number;
      type: string;
      scope: string;
      author: { principal: string };
      payload?: unknown;
    }[]).find((e) => e.sequence === seq);
    assert.equal(entry?.type, "COMMIT");
    assert.equal(entry?.scope, "node:n1");
    assert.equal(entry?.author.principal, "admin@example.org");
    assert.match(JSON.stringify(entry?.payload), /"key":"vm\.swappiness"/);
    assert.match(JSON.stringify(entry?.payload), /"actual_value":"10"/);
    const nothing = await runPact(
      ["commit", "-m", "again", "--node", "n1", "--agent", address],
      env,
    );
    assert.equal(nothing.code, 1, nothing.stderr);
    assert.match(nothing.stderr, /no drift on node n1/);

    // A reboot resets the kernel parameter; boot phase 2 re-applies the committed delta.
    assert.equal((await agent!.stop()).code, 0, logs());
    await Deno.writeTextFile(sysctl, "60\n");
    address = await boot();
    assert.equal((await Deno.readTextFile(sysctl)).trim(), "10", logs());
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const rebooted = await drift();
    assert.deepEqual(rebooted.drift, [], logs());
    assert.deepEqual(rebooted.declaredDiff, []);
    assert.equal(rebooted.window?.state, "idle");

    const listed = await runPact(["diff", "--committed", "n1"], env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(
      listed.stdout,
      new RegExp(`^kernel: vm\\.swappiness = 10  \\(committed seq:${seq}, just now\\)$`, "m"),
    );

    // Promote renders it as overlay TOML; applying it supersedes the node delta.
    const promoted = await runPact(["promote", "n1"], env);
    assert.equal(promoted.code, 0, promoted.stderr);
    assert.match(promoted.stdout, /\[vcluster\.ml\.sysctl\]\n"vm\.swappiness" = "10"\n/);
    const file = `${dataDir}/promote.toml`;
    await Deno.writeTextFile(file, promoted.stdout);
    const applied = await runPact(["apply", file], env);
    assert.equal(applied.code, 0, applied.stderr + applied.stdout);
    const none = await runPact(["diff", "--committed", "n1"], env);
    assert.equal(none.stdout, "(no committed node deltas)\n", none.stderr);
    assert.deepEqual((await drift()).drift, [], "the overlay now declares what the node has");

    // Ending an emergency by commit records its drift as a node delta too.
    const at = ["--node", "n1", "--agent", address];
    const start = await runPact(["emergency", "start", "-r", "tuning under load", ...at], env);
    assert.equal(start.code, 0, start.stderr + logs());
    await Deno.writeTextFile(sysctl, "20\n");
    await until("drift in emergency", async () => (await drift()).drift.length > 0, logs);
    const end = await runPact(["emergency", "end", ...at], env);
    assert.equal(end.code, 0, end.stderr + logs());
    assert.deepEqual((await drift()).drift, []);
    const emergencyDelta = await runPact(["diff", "--committed", "n1"], env);
    assert.match(emergencyDelta.stdout, /^kernel: vm\.swappiness = 20 {2}\(committed seq:\d+, /m);
  } finally {
    probe?.close();
    await agent?.stop();
    await removeSandboxNode(node);
    await journal.dispose();
    await Deno.remove(dataDir, { recursive: true });
  }
});

async function until(
  what: string,
  check: () => Promise<boolean>,
  log: () => string,
  timeoutMs = 15_000,
): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}\n${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
