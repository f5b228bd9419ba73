/**
 * `pact service` end to end: a real journal and a real agent (agent/main.ts)
 * booting a sandbox node with two services, its shell server on a free
 * loopback port with `[agent.shell.auth]` set to the journal's development
 * issuer, audience and HS256 secret. The CLI lists, restarts and reads the
 * logs of the services; roles and missing tokens are refused with the CLI's
 * exit codes; an agent without `[agent.shell.auth]` refuses every call.
 */
import assert from "node:assert/strict";
import { JournalClient } from "../cli/client/journal_client.ts";
import { DeclaredState, ServiceDecl } from "../shared/proto/gen/pact/config/config.ts";
import { overlayUpdate } from "../shared/testing/entries.ts";
import { runPact } from "./harness/cli_process.ts";
import { JournalProcess } from "./harness/journal_process.ts";
import {
  removeSandboxNode,
  sandboxNode,
  startShellAgent,
  TEST_SHELL_AUTH,
} from "./harness/boot_agent_process.ts";
import { BIN } from "./harness/paths.ts";

interface ServiceJson {
  name: string;
  state: string;
  pid: number | null;
  restart_count: number;
}

// sandboxNode's agent.toml already has [agent.shell] listen = "127.0.0.1:0".

async function declareServices(journal: JournalProcess): Promise<void> {
  const admin = new JournalClient({
    endpoint: journal.endpoint,
    token: await journal.token(),
    timeoutSeconds: 10,
  });
  const declared = DeclaredState.fromPartial({
    services: [
      ServiceDecl.fromPartial({
        name: "db",
        binary: "/bin/sh",
        args: ["-c", 'echo "db started as $$"; exec sleep 600'],
        restartPolicy: "on_failure",
        order: 1,
      }),
      ServiceDecl.fromPartial({
        name: "web",
        binary: "/bin/sh",
        args: ["-c", "exec sleep 600"],
        restartPolicy: "on_failure",
        order: 2,
      }),
    ],
  });
  await admin.appendEntry({ entry: overlayUpdate("ml", DeclaredState.encode(declared).finish()) });
  admin.close();
}

async function startAgent(
  journal: JournalProcess,
  nodeId: string,
  shellConfig: string,
) {
  const node = await sandboxNode(nodeId, "ml", [journal.grpcAddress]);
  await Deno.writeTextFile(node.configPath, shellConfig, { append: true });
  const { agent, address } = await startShellAgent(journal, nodeId, node.configPath);
  return { node, agent, address };
}

/** Runs `pact --follow`-style commands until `match` shows up in stdout, then kills them. */
async function outputUntil(
  args: string[],
  env: Record<string, string>,
  match: RegExp,
  during: () => Promise<void>,
): Promise<string> {
  const home = await Deno.makeTempDir({ prefix: "pact-test-home-" });
  const child = new Deno.Command(`${BIN}/pact`, {
    args,
    env: { HOME: home, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let text = "";
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    let started = false;
    while (!match.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      if (!started && text.includes("db started")) {
        started = true;
        await during();
      }
    }
    return text;
  } finally {
    clearTimeout(timer);
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await reader.cancel().catch(() => {});
    await child.status;
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test("pact service lists, restarts and reads the logs of a node's services through its agent", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "pact-test-service-" });
  const journal = await JournalProcess.start({ dataDir });
  let started: Awaited<ReturnType<typeof startAgent>> | undefined;
  try {
    await declareServices(journal);
    started = await startAgent(journal, "n1", TEST_SHELL_AUTH);
    const { agent, address } = started;
    const admin = { PACT_TOKEN: await journal.token(), PACT_ENDPOINT: journal.endpoint };
    const at = ["--node", "n1", "--agent", address];

    // Status: both services run; the address may also come from PACT_AGENT_ENDPOINT.
    const status = await runPact(["service", "status", "--node", "n1", "--json"], {
      ...admin,
      PACT_AGENT_ENDPOINT: `http://${address}`,
    });
    assert.equal(status.code, 0, status.stderr + agent.log);
    const before = (JSON.parse(status.stdout) as { services: ServiceJson[] }).services;
    assert.deepEqual(before.map((s) => [s.name, s.state]), [["db", "running"], ["web", "running"]]);
    const text = await runPact(["service", "status", ...at], admin);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^Node n1 \(pact backend\): 2 services/);
    assert.match(text.stdout, /db\s+running\s+\d+\s+0/);

    // Restart: a new pid, journaled as SERVICE_LIFECYCLE with the caller as principal.
    const oldPid = before.find((s) => s.name === "db")!.pid!;
    const restart = await runPact(["service", "restart", "db", ...at, "--json"], admin);
    assert.equal(restart.code, 0, restart.stderr + agent.log);
    const restarted = JSON.parse(restart.stdout) as {
      service: ServiceJson;
      journal_sequence: number | null;
    };
    assert.equal(restarted.service.state, "running");
    assert.notEqual(restarted.service.pid, oldPid);
    assert.equal(restarted.service.restart_count, 1);
    assert.ok(restarted.journal_sequence !== null && restarted.journal_sequence > 0);
    assert.throws(() => Deno.kill(oldPid, "SIGCONT"), "the old db process is gone");
    const log = await runPact(["log", "--json", "-n", "50"], admin);
    const lifecycle =
      (JSON.parse(log.stdout) as { sequence: number; type: string; scope: string }[])
        .filter((e) => e.type === "SERVICE_LIFECYCLE" && e.scope === "node:n1");
    assert.ok(lifecycle.some((e) => e.sequence === restarted.journal_sequence), log.stdout);

    // Logs: both runs of db wrote their pid.
    const logs = await runPact(["service", "logs", "db", ...at], admin);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, new RegExp(`db started as ${oldPid}\\n`));
    assert.match(logs.stdout, new RegExp(`db started as ${restarted.service.pid}\\n`));
    const one = await runPact(["service", "logs", "db", ...at, "-n", "1"], admin);
    assert.equal(one.stdout, `db started as ${restarted.service.pid}\n`);

    // Follow: a restart while following shows the new process's line.
    let followedPid = 0;
    const followed = await outputUntil(
      ["service", "logs", "db", ...at, "--follow"],
      admin,
      /db started as (\d+)\n[^]*db started as (\d+)\n[^]*db started as (\d+)\n/,
      async () => {
        const again = await runPact(["service", "restart", "db", ...at, "--json"], admin);
        assert.equal(again.code, 0, again.stderr);
        followedPid = (JSON.parse(again.stdout) as { service: ServiceJson }).service.pid!;
      },
    );
    assert.match(followed, new RegExp(`db started as ${followedPid}\\n`));

    // A viewer of the vCluster reads but cannot restart; ops of another vCluster cannot read.
    const viewer = { PACT_TOKEN: await journal.token("pact-viewer-ml", "viewer@example.org") };
    assert.equal((await runPact(["service", "status", ...at], viewer)).code, 0);
    const denied = await runPact(["service", "restart", "db", ...at], viewer);
    assert.equal(denied.code, 2, denied.stdout);
    assert.match(denied.stderr, /restart db on node n1 refused for viewer@example\.org/);
    const other = { PACT_TOKEN: await journal.token("pact-ops-storage", "ops@example.org") };
    const otherStatus = await runPact(["service", "status", ...at], other);
    assert.equal(otherStatus.code, 2);
    assert.match(otherStatus.stderr, /pact-viewer-ml/);

    // No token: exit 2 before any call; a token the agent does not accept: exit 2 too.
    const none = await runPact(["service", "status", ...at]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /Not authenticated/);
    const forged = await runPact(["service", "status", ...at], { PACT_TOKEN: "not.a.jwt" });
    assert.equal(forged.code, 2);

    // An undeclared service: NOT_FOUND, exit 1, one line.
    const missing = await runPact(["service", "restart", "nope", ...at], admin);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, "pact: Service nope is not declared on node n1\n");

    const stopped = await agent.stop();
    assert.equal(stopped.code, 0, agent.log);
  } finally {
    if (started) {
      await started.agent.stop();
      await removeSandboxNode(started.node);
    }
    await journal.dispose();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("an agent without [agent.shell.auth] refuses every pact service call", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "pact-test-service-closed-" });
  const journal = await JournalProcess.start({ dataDir });
  let started: Awaited<ReturnType<typeof startAgent>> | undefined;
  try {
    await declareServices(journal);
    started = await startAgent(journal, "n2", "");
    const at = ["--node", "n2", "--agent", started.address];
    const admin = { PACT_TOKEN: await journal.token() };
    await started.agent.waitForLine(/every call will be refused \(fail closed\)/);
    for (const args of [["status"], ["restart", "db"], ["logs", "db"]]) {
      const result = await runPact(["service", ...args, ...at], admin);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stdout}`);
      assert.match(result.stderr, /\[agent\.shell\.auth\] is not configured \(fail closed\)/);
    }
    const status = await started.agent.stop();
    assert.equal(status.code, 0, started.agent.log);
  } finally {
    if (started) {
      await started.agent.stop();
      await removeSandboxNode(started.node);
    }
    await journal.dispose();
    await Deno.remove(dataDir, { recursive: true });
  }
});
