/**
 * Merge conflicts (reference §2.19 CR2): a real pact-journal, a sandboxed
 * pact-agent and the pact CLI. The node changes a sysctl locally; then the
 * vCluster's overlay changes that sysctl to another value and a second one:
 * the second is applied, the first is a merge conflict (not overwritten,
 * journaled, shown by `pact diff`), and `pact commit` resolves it with the
 * local value.
 */
import assert from "node:assert/strict";
import { JournalClient } from "../cli/client/journal_client.ts";
import { AgentClient } from "../cli/client/agent_client.ts";
import {
  DeclaredState,
  DeltaAction,
  EnrollmentRecord,
  EntryType,
  StateDelta,
} from "../shared/proto/gen/pact/config/config.ts";
import { SERVICE_AGENT } from "../shared/domain/roles.ts";
import { entry, overlayUpdate } from "../shared/testing/entries.ts";
import { JournalProcess } from "./harness/journal_process.ts";
import { runPact } from "./harness/cli_process.ts";
import {
  type BootAgentProcess,
  removeSandboxNode,
  sandboxNode,
  startShellAgent,
  TEST_SHELL_AUTH,
} from "./harness/boot_agent_process.ts";

Deno.test("a sysctl changed locally and in the overlay is a merge conflict until pact commit", async () => {
  const journal = await JournalProcess.start();
  const node = await sandboxNode("n1", "ml", [journal.grpcAddress]);
  const swappiness = `${node.root}/proc/sys/vm/swappiness`;
  const somaxconn = `${node.root}/proc/sys/net/core/somaxconn`;
  let agent: BootAgentProcess | undefined;
  let probe: AgentClient | undefined;
  const admin = new JournalClient({
    endpoint: journal.endpoint,
    token: await journal.token(),
    timeoutSeconds: 10,
  });
  try {
    const adminToken = await journal.token();
    const declared = DeclaredState.fromPartial({
      sysctl: { "vm.swappiness": "60", "net.core.somaxconn": "128" },
    });
    await admin.appendEntry({
      entry: overlayUpdate("ml", DeclaredState.encode(declared).finish()),
    });
    // The journal knows n1 is in ml, so ml's overlay entries reach its subscription.
    await admin.appendEntry({
      entry: entry(EntryType.NODE_ASSIGNED, { kind: "node", id: "n1" }, {
        payload: {
          $case: "enrollment",
          value: EnrollmentRecord.fromPartial({ nodeId: "n1", vclusterId: "ml" }),
        },
      }),
    });
    await Deno.mkdir(`${node.root}/proc/sys/net/core`, { recursive: true });
    await Deno.writeTextFile(somaxconn, "128\n");
    await Deno.writeTextFile(
      node.configPath,
      (await Deno.readTextFile(node.configPath))
        .replace("[agent]\n", '[agent]\nenforcement_mode = "enforce"\n') +
        ["[agent.observer]", "probe_interval_seconds = 0.2", TEST_SHELL_AUTH].join("\n"),
    );
    const env = { PACT_TOKEN: adminToken, PACT_ENDPOINT: journal.endpoint, PACT_VCLUSTER: "ml" };
    const launched = await startShellAgent(journal, "n1", node.configPath);
    agent = launched.agent;
    const address = launched.address;
    probe = new AgentClient({
      endpoint: `http://${address}`,
      token: adminToken,
      timeoutSeconds: 5,
    });
    const logs = () => `agent:\n${agent?.log}\njournal:\n${journal.log}`;

    // The node changes vm.swappiness locally: drift.
    await Deno.writeTextFile(swappiness, "10\n");
    await until("local drift", async () => {
      return (await probe!.getDrift()).drift.some((d) => d.key === "vm.swappiness");
    }, logs);

    // The overlay changes both sysctls in the journal.
    const delta = StateDelta.fromPartial({
      kernel: [
        { key: "vm.swappiness", action: DeltaAction.MODIFY, declaredValue: "30" },
        { key: "net.core.somaxconn", action: DeltaAction.MODIFY, declaredValue: "4096" },
      ],
    });
    const overlaySeq = (await admin.appendEntry({
      entry: entry(EntryType.COMMIT, { kind: "vcluster", id: "ml" }, {
        message: "tune ml",
        payload: { $case: "stateDelta", value: delta },
      }),
    })).sequence;

    // The key nobody changed locally is applied; the conflicting one is not.
    await until("somaxconn applied", async () => {
      return (await Deno.readTextFile(somaxconn)).trim() === "4096";
    }, logs);
    await until("conflict shown", async () => {
      const d = (await probe!.getDrift()).drift.find((i) => i.key === "vm.swappiness");
      return d?.detail.startsWith("merge conflict") ?? false;
    }, logs);
    assert.equal((await Deno.readTextFile(swappiness)).trim(), "10", "no silent overwrite");

    const diff = await runPact(["diff", "n1", "--agent", address, "--json"], env);
    assert.equal(diff.code, 0, diff.stderr + logs());
    const view = JSON.parse(diff.stdout);
    const item = view.drift.find((i: { key: string }) => i.key === "vm.swappiness");
    assert.equal(item.conflict.local, "10");
    assert.equal(item.conflict.journal, "30");
    assert.equal(item.conflict.journal_sequence, Number(overlaySeq));
    assert.ok(Date.parse(item.conflict.grace_period_expires) > Date.now(), "grace not over");
    assert.ok(
      !view.drift.some((i: { key: string }) => i.key === "net.core.somaxconn"),
      "the applied key is not drift",
    );
    const text = await runPact(["diff", "n1", "--agent", address], env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /vm\.swappiness: declared=30 actual=10 +\(merge conflict: local "10"/,
    );

    // pact commit keeps the local value and resolves the conflict.
    const commit = await runPact(
      ["commit", "-m", "keep 10", "--node", "n1", "--agent", address, "--json"],
      env,
    );
    assert.equal(commit.code, 0, commit.stderr + logs());
    const after = await probe.getDrift();
    assert.deepEqual(after.drift, [], logs());
    assert.equal((await Deno.readTextFile(swappiness)).trim(), "10");

    await until("conflict records", async () => {
      const kinds = (await admin.listEntries({ entryTypes: [EntryType.CONFLICT] }))
        .map((e) => e.payload?.$case === "conflict" ? e.payload.value : undefined)
        .map((c) => `${c?.kind}:${c?.resolution}:${c?.items.map((i) => i.key).join(",")}`);
      return kinds.includes("merge_detected::kernel:vm.swappiness") &&
        kinds.includes("merge_resolved:accept_local:kernel:vm.swappiness");
    }, logs);
    const detected = (await admin.listEntries({ entryTypes: [EntryType.CONFLICT] }))[0]!;
    assert.match(detected.message, /local "10", journal "30"/);
    assert.match(detected.message, /grace_period_expires \d{4}-/);
    assert.equal(detected.author?.role, SERVICE_AGENT, "recorded by the agent");
  } finally {
    probe?.close();
    admin.close();
    await agent?.stop();
    await journal.stop();
    await removeSandboxNode(node);
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
