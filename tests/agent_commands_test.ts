/**
 * The agent's configuration commands end to end: a real journal, a real
 * agent (agent/main.ts) booting a sandbox node whose overlay declares a
 * file, in enforce mode, with its shell server and journal subscription,
 * and the CLI as a subprocess. Drift on the declared file shows in `pact
 * diff`; `pact extend` pushes the window; `pact commit` through the
 * journal resets the agent's drift (subscription); `pact rollback`
 * restores the file and journals a Rollback naming the admin; emergency
 * start/end with its refusals; a viewer cannot roll back; a blacklist
 * change reaches the agent and silences drift on its path.
 */
import assert from "node:assert/strict";
import { AgentClient } from "../cli/client/agent_client.ts";
import { JournalClient } from "../cli/client/journal_client.ts";
import { DeclaredState, FileDecl } from "../shared/proto/gen/pact/config/config.ts";
import type { GetDriftResponse } from "../shared/proto/gen/pact/shell/shell.ts";
import { overlayUpdate } from "../shared/testing/entries.ts";
import { writeSandbox } from "../agent/host/sandbox_host.ts";
import { runPact } from "./harness/cli_process.ts";
import { JournalProcess } from "./harness/journal_process.ts";
import {
  BootAgentProcess,
  removeSandboxNode,
  sandboxNode,
  startShellAgent,
  TEST_SHELL_AUTH,
} from "./harness/boot_agent_process.ts";

const FILE = "/etc/pact-demo.conf";
const DECLARED = "threads = 8\n";

async function until(
  what: string,
  check: () => Promise<boolean>,
  log: () => string,
  timeoutMs = 10_000,
): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}\n${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

Deno.test("pact diff, extend, commit, rollback, emergency and blacklist drive a running agent", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "pact-test-agent-commands-" });
  const journal = await JournalProcess.start({ dataDir });
  const node = await sandboxNode("n1", "ml", [journal.grpcAddress]);
  let agent: BootAgentProcess | undefined;
  let probe: AgentClient | undefined;
  try {
    const admin = new JournalClient({
      endpoint: journal.endpoint,
      token: await journal.token(),
      timeoutSeconds: 10,
    });
    const declared = DeclaredState.fromPartial({
      files: [FileDecl.fromPartial({ path: FILE, content: new TextEncoder().encode(DECLARED) })],
    });
    await admin.appendEntry({
      entry: overlayUpdate("ml", DeclaredState.encode(declared).finish()),
    });
    admin.close();
    await writeSandbox(node.root, { files: { [FILE]: DECLARED } });
    const config = (await Deno.readTextFile(node.configPath))
      .replace("[agent]\n", '[agent]\nenforcement_mode = "enforce"\n') +
      [
        "[agent.observer]",
        "hash_sweep_interval_seconds = 0.3",
        TEST_SHELL_AUTH,
      ].join("\n");
    await Deno.writeTextFile(node.configPath, config);
    const launched = await startShellAgent(journal, "n1", node.configPath);
    agent = launched.agent;
    const address = launched.address;
    const started = agent;
    const logs = () => `agent:\n${started.log}\njournal:\n${journal.log}`;
    const adminToken = await journal.token();
    const env = { PACT_TOKEN: adminToken, PACT_ENDPOINT: journal.endpoint };
    const at = ["--node", "n1", "--agent", address];
    probe = new AgentClient({
      endpoint: `http://${address}`,
      token: adminToken,
      timeoutSeconds: 5,
    });
    const client = probe;
    const drift = () => client.getDrift();
    const fileDrift = (r: GetDriftResponse) => r.drift.find((d) => d.key === FILE);

    // No drift at first.
    const clean = await runPact(["diff", "n1", "--agent", address, "--json"], env);
    assert.equal(clean.code, 0, clean.stderr + logs());
    const cleanView = JSON.parse(clean.stdout);
    assert.equal(cleanView.enforcement_mode, "enforce");
    assert.deepEqual(cleanView.drift, []);
    assert.equal(cleanView.window.state, "idle");

    // Drift on the declared file: diff shows it, declared vs actual, and an open window.
    await Deno.writeTextFile(`${node.root}${FILE}`, "threads = 64\n");
    await until("file drift", async () => fileDrift(await drift()) !== undefined, logs);
    const diff = await runPact(["diff", ...at], env);
    assert.equal(diff.code, 0, diff.stderr);
    assert.match(
      diff.stdout,
      /files \/etc\/pact-demo\.conf: declared=sha256:\w+ actual=sha256:\w+/,
    );
    assert.match(diff.stdout, /Commit window: open, \d+ s left/);
    const before = (await drift()).window!.secondsLeft;

    // Extend pushes the deadline by 30 min.
    const extend = await runPact(["extend", "30", ...at, "--json"], env);
    assert.equal(extend.code, 0, extend.stderr);
    const extended = JSON.parse(extend.stdout).seconds_remaining as number;
    assert.ok(extended >= before + 1790, `${before} -> ${extended}`);
    assert.equal((await runPact(["extend", "0", ...at], env)).code, 1);

    // pact commit goes to the journal; the agent hears it and resets its drift.
    const commit = await runPact(["commit", "-m", "64 threads", "--node", "n1"], env);
    assert.equal(commit.code, 0, commit.stderr);
    await until("commit reset", async () => {
      const r = await drift();
      return r.drift.length === 0 && r.window?.state === "idle";
    }, logs);

    // New drift, then an admin rollback restores the committed content.
    await Deno.writeTextFile(`${node.root}${FILE}`, "threads = 1\n");
    await until("new drift", async () => fileDrift(await drift()) !== undefined, logs);
    const viewer = { PACT_TOKEN: await journal.token("pact-viewer-ml", "viewer@example.org") };
    const denied = await runPact(["rollback", ...at], viewer);
    assert.equal(denied.code, 2, denied.stdout + denied.stderr);
    assert.equal((await runPact(["diff", ...at], viewer)).code, 0, "a viewer may read");
    const rollback = await runPact(["rollback", ...at, "--json"], env);
    assert.equal(rollback.code, 0, rollback.stderr + logs());
    assert.deepEqual(JSON.parse(rollback.stdout).restored, [{ dimension: "files", key: FILE }]);
    assert.equal(await Deno.readTextFile(`${node.root}${FILE}`), "threads = 64\n");
    assert.equal((await drift()).drift.length, 0);
    const again = await runPact(["rollback", ...at], env);
    assert.equal(again.code, 1, "nothing left to roll back");
    assert.match(again.stderr, /no drift/);
    let rollbacks: { author: { principal: string }; scope: string }[] = [];
    await until("Rollback entry", async () => {
      const log = await runPact(["log", "--json", "-n", "50"], env);
      rollbacks =
        (JSON.parse(log.stdout) as { type: string; scope: string; author: { principal: string } }[])
          .filter((e) => e.type === "ROLLBACK" && e.scope === "node:n1");
      return rollbacks.length > 0;
    }, logs);
    assert.equal(rollbacks[0]!.author.principal, "admin@example.org");

    // Emergency: one at a time, the initiator ends it (others need --force), never the AI role.
    const other = { PACT_TOKEN: await journal.token("pact-platform-admin", "other@example.org") };
    const ai = { PACT_TOKEN: await journal.token("pact-service-ai", "ai-bot", "service") };
    const start = await runPact(
      ["emergency", "start", "-r", "GPU ECC storm", ...at, "--json"],
      env,
    );
    assert.equal(start.code, 0, start.stderr + logs());
    const startView = JSON.parse(start.stdout);
    assert.equal(startView.active, true);
    assert.equal(startView.admin, "admin@example.org");
    assert.ok(startView.journal_sequence > 0);
    const second = await runPact(["emergency", "start", "-r", "again", ...at], other);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /already active/);
    const aiStart = await runPact(["emergency", "end", ...at], ai);
    assert.equal(aiStart.code, 2);
    assert.match(aiStart.stderr, /AI service role/);
    const notMine = await runPact(["emergency", "end", ...at], other);
    assert.equal(notMine.code, 2);
    assert.match(notMine.stderr, /only admin@example\.org may end it without --force/);
    const forced = await runPact(["emergency", "end", "--force", ...at], other);
    assert.equal(forced.code, 0, forced.stderr + logs());
    assert.equal((await drift()).emergency?.active, false);

    // A blacklisted path no longer drifts once the agent has the change.
    const add = await runPact(["blacklist", "add", FILE, "--node", "n1"], env);
    assert.equal(add.code, 0, add.stderr);
    await until("blacklist applied", async () => (await drift()).blacklist.includes(FILE), logs);
    await Deno.writeTextFile(`${node.root}${FILE}`, "threads = 2\n");
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.equal(fileDrift(await drift()), undefined, logs());
    const list = await runPact(["blacklist", "list", ...at, "--json"], env);
    assert.equal(list.code, 0, list.stderr);
    const listed = JSON.parse(list.stdout);
    assert.ok(listed.effective.includes(FILE));
    assert.equal(listed.changes[0].pattern, FILE);

    const stopped = await agent.stop();
    assert.equal(stopped.code, 0, agent.log);
  } finally {
    probe?.close();
    await agent?.stop();
    await removeSandboxNode(node);
    await journal.dispose();
    await Deno.remove(dataDir, { recursive: true });
  }
});
