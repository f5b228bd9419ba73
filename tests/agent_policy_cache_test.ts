/**
 * The agent enforces its vCluster's policy live from the journal and from
 * its saved copy when partitioned (agent/policy), end to end: a real
 * journal, a real agent (agent/main.ts) booting a sandbox node with
 * `[agent.shell.auth]`, and the CLI as a subprocess. `pact group
 * set-policy` adds `nproc` to the exec whitelist and the running agent
 * allows it without a restart; role bindings and two_person_approval
 * change who may restart services; with the journal stopped, a restarted
 * agent boots from its cache and still enforces the updated policy, and
 * says so in its log.
 */
import assert from "node:assert/strict";
import { JournalClient } from "../cli/client/journal_client.ts";
import { EnrollmentRecord, EntryType } from "../shared/proto/gen/pact/config/config.ts";
import { entry, policyUpdate } from "../shared/testing/entries.ts";
import { type CliResult, runPact } from "./harness/cli_process.ts";
import { JournalProcess } from "./harness/journal_process.ts";
import {
  BootAgentProcess,
  removeSandboxNode,
  type SandboxNode,
  sandboxNode,
  startShellAgent,
  TEST_SHELL_AUTH,
} from "./harness/boot_agent_process.ts";

/** Runs `attempt` until `done` holds for its result, or fails after `timeoutMs`. */
async function eventually(
  attempt: () => Promise<CliResult>,
  done: (result: CliResult) => boolean,
  timeoutMs: number,
  what: string,
): Promise<CliResult> {
  const started = Date.now();
  for (;;) {
    const result = await attempt();
    if (done(result)) return result;
    if (Date.now() - started > timeoutMs) {
      assert.fail(`${what} within ${timeoutMs} ms: exit ${result.code}: ${result.stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

Deno.test("the agent applies set-policy live, enforces role bindings, and keeps the cached policy when the journal is down", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "pact-test-policy-cache-" });
  const journal = await JournalProcess.start({ dataDir });
  let node: SandboxNode | undefined;
  let agent: BootAgentProcess | undefined;
  try {
    // The vCluster exists with a policy that adds nothing to the whitelist,
    // and n1 is assigned to it (the journal sends a node its vCluster's updates).
    const admin = new JournalClient({
      endpoint: journal.endpoint,
      token: await journal.token(),
      timeoutSeconds: 10,
    });
    await admin.appendEntry({ entry: policyUpdate("ml", { policyId: "initial" }) });
    await admin.appendEntry({
      entry: entry(EntryType.NODE_ASSIGNED, { kind: "node", id: "n1" }, {
        payload: { $case: "enrollment", value: EnrollmentRecord.fromPartial({ vclusterId: "ml" }) },
      }),
    });
    admin.close();
    node = await sandboxNode("n1", "ml", [journal.grpcAddress]);
    await Deno.writeTextFile(node.configPath, TEST_SHELL_AUTH, { append: true });
    const started = await startShellAgent(journal, "n1", node.configPath);
    agent = started.agent;
    const tokens = {
      admin: await journal.token(),
      ops: await journal.token("pact-ops-ml", "ops@example.org"),
      viewer: await journal.token("pact-viewer-ml", "viewer@example.org"),
      regulated: await journal.token("pact-regulated-ml", "reg@example.org"),
      oncall: await journal.token("gpu-oncall", "oncall@example.org"),
    };
    const as = (who: keyof typeof tokens) => ({
      PACT_TOKEN: tokens[who],
      PACT_ENDPOINT: journal.endpoint,
    });
    let address = started.address;
    const nproc = () => runPact(["exec", "n1", "--agent", address, "--", "nproc"], as("ops"));
    const restart = (who: keyof typeof tokens) =>
      runPact(["service", "restart", "db", "--agent", address], as(who));

    // Not whitelisted yet: exit 6, one line.
    const refused = await nproc();
    assert.equal(refused.code, 6, refused.stderr + agent.log);
    assert.match(refused.stderr, /Command not whitelisted: nproc/);
    assert.equal(refused.stderr.trim().split("\n").length, 1, refused.stderr);

    // The platform admin adds it; the running agent allows it within seconds.
    const set = await runPact(
      ["group", "set-policy", "ml", "--set", 'exec_whitelist=["nproc"]', "-m", "add nproc"],
      as("admin"),
    );
    assert.equal(set.code, 0, set.stderr);
    const allowed = await eventually(nproc, (r) => r.code === 0, 20_000, "nproc allowed");
    assert.match(allowed.stdout, /^[1-9][0-9]*\n$/);
    assert.match(agent.log, /policy: vCluster ml seq:\d+ applied: .*exec_whitelist nproc/);

    // Services: a viewer may not restart (exit 2, naming the role needed);
    // a custom role bound to service_restart passes authorization (the
    // service is simply not declared: exit 1); a regulated role is refused
    // by the policy's two-person approval (exit 3).
    const viewer = await restart("viewer");
    assert.equal(viewer.code, 2, viewer.stderr);
    assert.match(viewer.stderr, /restart db on node n1 refused for viewer@example\.org/);
    assert.match(viewer.stderr, /needs pact-platform-admin or pact-ops-ml/);
    assert.equal((await restart("oncall")).code, 2, "gpu-oncall has no binding yet");
    const bindings = await runPact([
      "group",
      "set-policy",
      "ml",
      "--set",
      'role_bindings=[{ role = "gpu-oncall", principals = ["oncall@example.org"], allowed_actions = ["service_restart"] }]',
      "--set",
      "two_person_approval=true",
      "-m",
      "on-call restarts, regulated needs approval",
    ], as("admin"));
    assert.equal(bindings.code, 0, bindings.stderr);
    const oncall = await eventually(
      () => restart("oncall"),
      (r) => r.code !== 2,
      20_000,
      "gpu-oncall authorized",
    );
    assert.equal(oncall.code, 1, oncall.stderr);
    assert.match(oncall.stderr, /Service db is not declared on node n1/);
    const regulated = await restart("regulated");
    assert.equal(regulated.code, 3, regulated.stderr);
    assert.match(regulated.stderr, /two-person approval/);
    assert.equal((await nproc()).code, 0, "exec_whitelist kept by the second set-policy");

    // Partition: the journal is gone and the agent restarts from its caches.
    assert.equal((await agent.stop()).code, 0, agent.log);
    await journal.stop();
    agent = BootAgentProcess.start(
      ["--config", node.configPath, "--journal-wait-ms", "1000"],
      { PACT_AGENT_TOKEN: await journal.token("pact-service-agent", "agent-n1", "agent") },
      "agent",
    );
    const line = await agent.waitForLine(/shell: listening on \S+/, 30_000);
    address = /listening on (\S+)/.exec(line)![1]!;
    assert.match(
      agent.log,
      /policy: journal unreachable at boot: enforcing the CACHED policy of vCluster ml .*\(seq:\d+, received \S+, age \d+ s\)/,
    );
    const cached = await nproc();
    assert.equal(cached.code, 0, cached.stderr + agent.log);
    assert.match(cached.stdout, /^[1-9][0-9]*\n$/);
    assert.equal((await restart("viewer")).code, 2);
    assert.equal((await restart("oncall")).code, 1, "role bindings come from the cache too");
  } finally {
    await agent?.stop();
    await journal.stop();
    if (node) await removeSandboxNode(node);
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});
