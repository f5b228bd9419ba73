/**
 * `pact exec` end to end: a real journal and a real agent (agent/main.ts)
 * booting a sandbox node in enforce mode, its shell server on a loopback
 * port with `[agent.shell.auth]` set to the journal's development issuer;
 * the vCluster policy adds `seq` (and `bash`, which must be ignored) to
 * the exec whitelist. The CLI runs harmless commands only (echo, ls, seq,
 * head of /dev/zero, tail -f /dev/null, sysctl -n, id -u): streams,
 * exit codes, refusals with exit 6 and 2, timeout, output cap, the
 * EXEC_LOG entries in the journal, and the commit window a state-changing
 * command opens.
 */
import assert from "node:assert/strict";
import { JournalClient } from "../cli/client/journal_client.ts";
import { policyUpdate } from "../shared/testing/entries.ts";
import { type CliResult, runPact } from "./harness/cli_process.ts";
import { JournalProcess } from "./harness/journal_process.ts";
import {
  removeSandboxNode,
  sandboxNode,
  startShellAgent,
  TEST_SHELL_AUTH,
} from "./harness/boot_agent_process.ts";

interface LogEntry {
  sequence: number;
  type: string;
  scope: string;
  policy_ref?: string;
  metadata?: Record<string, string>;
}

async function startAgent(journal: JournalProcess, nodeId: string) {
  const admin = new JournalClient({
    endpoint: journal.endpoint,
    token: await journal.token(),
    timeoutSeconds: 10,
  });
  await admin.appendEntry({ entry: policyUpdate("ml", { execWhitelist: ["seq", "bash"] }) });
  admin.close();
  const node = await sandboxNode(nodeId, "ml", [journal.grpcAddress]);
  const toml = await Deno.readTextFile(node.configPath);
  await Deno.writeTextFile(
    node.configPath,
    toml.replace("[agent]\n", '[agent]\nenforcement_mode = "enforce"\n') + TEST_SHELL_AUTH,
  );
  const { agent, address } = await startShellAgent(journal, nodeId, node.configPath);
  return { node, agent, address };
}

function refusedWith(result: CliResult, code: number, pattern: RegExp, what: string): void {
  assert.equal(result.code, code, `${what}: ${result.stdout}${result.stderr}`);
  assert.match(result.stderr, pattern, what);
  assert.equal(result.stdout, "", what);
}

Deno.test("pact exec streams, refuses, times out, caps output and journals through a real agent", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "pact-test-exec-" });
  const links = await Deno.makeTempDir({ prefix: "pact-test-exec-links-" });
  const journal = await JournalProcess.start({ dataDir });
  let started: Awaited<ReturnType<typeof startAgent>> | undefined;
  try {
    started = await startAgent(journal, "n1");
    const { agent, address } = started;
    const tokens = {
      admin: await journal.token(),
      ops: await journal.token("pact-ops-ml", "ops@example.org"),
      viewer: await journal.token("pact-viewer-ml", "viewer@example.org"),
      other: await journal.token("pact-ops-storage", "other@example.org"),
    };
    const as = (who: keyof typeof tokens) => ({
      PACT_TOKEN: tokens[who],
      PACT_ENDPOINT: journal.endpoint,
    });
    const exec = (who: keyof typeof tokens, args: string[], before: string[] = []) =>
      runPact([...before, "exec", "n1", "--agent", address, "--", ...args], as(who));

    // stdout and stderr arrive on their own streams; the exit code passes through.
    const [hello, both, seq, viewerEcho] = await Promise.all([
      exec("ops", ["echo", "hello", "world"]),
      exec("ops", ["ls", "-d", "/tmp", "/pact-exec-test-missing"]),
      exec("viewer", ["seq", "3"]),
      exec("viewer", ["echo", "read-only"]),
    ]);
    assert.equal(hello.code, 0, hello.stderr + agent.log);
    assert.equal(hello.stdout, "hello world\n");
    assert.equal(hello.stderr, "");
    assert.equal(both.code, 2, both.stderr);
    assert.equal(both.stdout, "/tmp\n");
    assert.match(
      both.stderr,
      /pact-exec-test-missing.*No such file or directory\n\(exit code: 2\)\n$/s,
    );
    assert.equal(seq.stdout, "1\n2\n3\n", "seq comes from the vCluster's exec_whitelist");
    assert.equal(viewerEcho.stdout, "read-only\n");

    // --json: one object per chunk, then the result.
    const json = await exec("ops", ["echo", "hi"], ["--json"]);
    assert.equal(json.code, 0, json.stderr);
    const lines = json.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines[0], { node: "n1", stream: "stdout", data: "hi\n" });
    const result = lines.at(-1);
    assert.equal(result.exit_code, 0);
    assert.equal(result.decision, "whitelisted");
    assert.equal(result.state_changing, false);
    assert.match(result.exec_id, /^[0-9a-f-]{36}$/);

    // Refusals: exit 6, one line, nothing run.
    await Deno.symlink("/usr/bin/bash", `${links}/ls`);
    const refusals = await Promise.all([
      exec("admin", ["bash", "-c", "id"]),
      exec("admin", ["python3", "-c", "1"]),
      exec("ops", ["nc", "-l", "1234"]),
      exec("ops", [`${links}/ls`, "-la"]),
      exec("ops", ["cat", "/etc/shadow"]),
      exec("ops", ["cat", "%2Fetc%2Fshadow"]),
      exec("ops", ["cat", "../../etc/passwd"]),
      exec("ops", ["echo", "a;id"]),
      exec("ops", ["ip", "netns", "exec", "x", "id"]),
    ]);
    const expected = [
      /runs other commands, so exec never runs it/,
      /runs other commands/,
      /Command not whitelisted: nc/,
      /is not the ls on the exec PATH/,
      /reaches \/etc\/shadow/,
      /reaches \/etc\/shadow/,
      /"\.\." path segment/,
      /contains ";"/,
      /run other programs/,
    ];
    refusals.forEach((r, i) => refusedWith(r, 6, expected[i]!, `refusal ${i}`));
    assert.match(
      refusals[2]!.stderr,
      /^pact: Command not whitelisted: nc \(see pact exec --list <node>\)\n$/,
    );

    // Authorization: exit 2 without a token, with a bad one, for a viewer's
    // state-changing command and for another vCluster's role.
    const [none, forged, viewerSysctl, viewerHostname, other] = await Promise.all([
      runPact(["exec", "n1", "--agent", address, "--", "echo", "x"]),
      runPact(["exec", "n1", "--agent", address, "--", "echo", "x"], { PACT_TOKEN: "not.a.jwt" }),
      exec("viewer", ["sysctl", "-n", "kernel.ostype"]),
      exec("viewer", ["hostname", "evil"]),
      exec("other", ["echo", "x"]),
    ]);
    refusedWith(none, 2, /Not authenticated/, "no token");
    refusedWith(forged, 2, /./, "forged token");
    refusedWith(
      viewerSysctl,
      2,
      /State-changing exec of sysctl on node n1 refused for viewer@example\.org/,
      "viewer",
    );
    refusedWith(viewerHostname, 2, /State-changing exec of hostname/, "viewer hostname");
    refusedWith(other, 2, /pact-viewer-ml/, "other vCluster");

    // Timeout: SIGTERM, exit 124; output cap: truncated and reported.
    const [timedOut, capped] = await Promise.all([
      exec("ops", ["tail", "-f", "/dev/null"], ["--timeout", "1"]),
      runPact(
        [
          "exec",
          "n1",
          "--agent",
          address,
          "--output-limit",
          "1000",
          "--",
          "head",
          "-c",
          "100000",
          "/dev/zero",
        ],
        as("ops"),
      ),
    ]);
    assert.equal(timedOut.code, 124, timedOut.stderr);
    assert.match(
      timedOut.stderr,
      /\(timed out: the agent killed the command\)\n\(exit code: 124\)\n/,
    );
    assert.equal(capped.code, 0, capped.stderr);
    assert.equal(capped.stdout.length, 1000);
    assert.match(capped.stderr, /\(stdout truncated at the output limit\)/);

    // A state-changing command (by classification) opens a commit window.
    assert.ok(
      !agent.log.includes("commit window opened"),
      "no window before a state-changing exec",
    );
    const sysctl = await exec("ops", ["sysctl", "-n", "kernel.ostype"]);
    assert.equal(sysctl.code, 0, sysctl.stderr);
    assert.equal(sysctl.stdout, "Linux\n");
    await agent.waitForLine(/commit window opened/, 10_000);

    // A platform admin may run a command outside the whitelist (journaled as bypass).
    const bypass = await exec("admin", ["id", "-u"], ["--json"]);
    assert.equal(bypass.code, 0, bypass.stderr);
    const bypassResult = JSON.parse(bypass.stdout.trim().split("\n").at(-1)!);
    assert.equal(bypassResult.decision, "bypass");

    // --list: the effective whitelist and mode.
    const list = await runPact(
      ["exec", "--list", "n1", "--agent", address, "--json"],
      as("viewer"),
    );
    assert.equal(list.code, 0, list.stderr);
    const view = JSON.parse(list.stdout) as {
      mode: string;
      commands: { command: string; state_changing: boolean }[];
    };
    assert.equal(view.mode, "learning");
    assert.equal(view.commands.length, 39);
    assert.deepEqual(view.commands.find((c) => c.command === "seq"), {
      command: "seq",
      state_changing: false,
      description: "Added by the vCluster policy (exec_whitelist)",
    });
    assert.equal(view.commands.find((c) => c.command === "sysctl")?.state_changing, true);
    assert.ok(!view.commands.some((c) => c.command === "bash"));
    assert.match(
      agent.log,
      /exec_whitelist entries ignored \(shell escapes or not command names\): bash/,
    );

    // The journal has an intent before the outcome of each exec, and the refusals.
    const log = await runPact(["log", "--json", "-n", "500"], as("admin"));
    assert.equal(log.code, 0, log.stderr);
    const entries = (JSON.parse(log.stdout) as LogEntry[])
      .filter((e) => e.type === "EXEC_LOG" && e.scope === "node:n1");
    const ofExec = entries.filter((e) => e.metadata?.exec_id === result.exec_id)
      .sort((a, b) => a.sequence - b.sequence);
    assert.deepEqual(ofExec.map((e) => e.metadata?.phase), ["intent", "outcome"], log.stdout);
    assert.equal(ofExec[0]!.metadata?.command, "echo");
    assert.equal(ofExec[0]!.metadata?.principal, "ops@example.org");
    const learned = entries.find((e) => e.metadata?.command === "nc");
    assert.equal(learned?.metadata?.decision, "learning");
    assert.equal(learned?.metadata?.suggestion, "add nc to exec_whitelist");
    const escape = entries.find((e) => e.metadata?.command === "bash");
    assert.equal(escape?.metadata?.decision, "denied");
    assert.ok(
      entries.some((e) => e.metadata?.decision === "bypass" && e.metadata?.phase === "outcome"),
    );
    assert.ok(
      entries.some((e) =>
        e.metadata?.command === "sysctl" && e.metadata?.principal === "viewer@example.org" &&
        e.metadata?.phase === "refused"
      ),
    );

    const stopped = await agent.stop();
    assert.equal(stopped.code, 0, agent.log);
  } finally {
    if (started) {
      await started.agent.stop();
      await removeSandboxNode(started.node);
    }
    await journal.dispose();
    await Deno.remove(dataDir, { recursive: true });
    await Deno.remove(links, { recursive: true });
  }
});

Deno.test("pact exec --vcluster runs the command on every node of the vCluster, grouped by output", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "pact-test-exec-fleet-" });
  const journal = await JournalProcess.start({ dataDir });
  const agents: Awaited<ReturnType<typeof startAgent>>[] = [];
  try {
    const admin = { PACT_TOKEN: await journal.token(), PACT_ENDPOINT: journal.endpoint };
    for (const [index, node] of ["n1", "n2"].entries()) {
      const enrolled = await runPact(
        ["enroll", node, "--hardware-id", `52:54:00:00:01:0${index + 1}`, "--vcluster", "ml"],
        admin,
      );
      assert.equal(enrolled.code, 0, enrolled.stderr);
    }
    agents.push(...await Promise.all(["n1", "n2"].map((n) => startAgent(journal, n))));
    // The registry knows each agent's address once it is journaled.
    await Promise.all(
      agents.map((a) => a.agent.waitForLine(/shell: address \S+ journaled/, 40_000)),
    );
    const log = () => agents.map((a) => a.agent.log).join("\n");
    const rule = "----------------";

    const same = await runPact(["exec", "--vcluster", "ml", "--", "echo", "same"], admin);
    assert.equal(same.code, 0, same.stderr + log());
    assert.equal(same.stdout, `${rule}\nn[1-2]\n${rule}\nsame\n`);
    assert.match(same.stderr, /2 node\(s\): 2 ok, 0 unreachable, 0 failed/);

    // --json: one line per node, with the time each node took as seen by the CLI.
    const json = await runPact(["--json", "exec", "--vcluster", "ml", "--", "echo", "same"], admin);
    assert.equal(json.code, 0, json.stderr);
    const lines = json.stdout.trim().split("\n").map((line) =>
      JSON.parse(line) as { node: string; stdout: string; exit_code: number; elapsed_ms: number }
    );
    assert.deepEqual(lines.map((l) => [l.node, l.stdout, l.exit_code]), [
      ["n1", "same\n", 0],
      ["n2", "same\n", 0],
    ]);
    for (const l of lines) assert.ok(l.elapsed_ms >= 0 && l.elapsed_ms < 60_000, `${l.elapsed_ms}`);

    const failing = await runPact(
      ["--vcluster", "ml", "exec", "--prefix", "--", "ls", "/pact-exec-test-missing"],
      admin,
    );
    assert.equal(failing.code, 1, "a non-zero exit code on a node makes the fleet exit 1");
    assert.match(failing.stdout, /^\[n1\] .*No such file or directory\n/m);
    assert.match(failing.stdout, /^\[n2\] \(exit code: 2\)$/m);

    const both = await runPact(["exec", "--vcluster", "ml", "n1", "--", "ls"], admin);
    assert.equal(both.code, 1);
    assert.match(
      both.stderr,
      /^pact: --vcluster runs on every node of the vCluster: .*\(no node\)\n$/,
    );

    const refused = await runPact(["exec", "--vcluster", "ml", "--", "bash", "-c", "id"], admin);
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, "");
    assert.match(refused.stderr, /\[ERROR\] n1: Command refused: bash runs other commands/);
    assert.match(refused.stderr, /2 node\(s\): 0 ok, 0 unreachable, 2 failed/);
  } finally {
    for (const { agent, node } of agents) {
      await agent.stop();
      await removeSandboxNode(node);
    }
    await journal.dispose();
    await Deno.remove(dataDir, { recursive: true });
  }
});
