/**
 * `pact shell` end to end: a real journal and a real agent (agent/main.ts)
 * on a sandbox node, its shell server on loopback with `[agent.shell.auth]`
 * set to the journal's development issuer. The CLI runs a session with
 * piped input (rbash on a real PTY: whitelisted commands run, absolute
 * paths, other commands and redirections are refused, `exit 3` is the exit
 * code); each command and the session's start and end are journaled; a
 * resize reaches the shell; the eleventh concurrent session and viewers
 * are refused; `pact shell replay` plays the recording back.
 */
import assert from "node:assert/strict";
import { AgentClient, type ShellStream } from "../cli/client/agent_client.ts";
import { JournalClient } from "../cli/client/journal_client.ts";
import { DeclaredState } from "../shared/proto/gen/pact/config/config.ts";
import { overlayUpdate } from "../shared/testing/entries.ts";
import { runPact } from "./harness/cli_process.ts";
import { JournalProcess } from "./harness/journal_process.ts";
import {
  BootAgentProcess,
  removeSandboxNode,
  sandboxNode,
  startShellAgent,
  TEST_SHELL_AUTH,
} from "./harness/boot_agent_process.ts";
import { BIN } from "./harness/paths.ts";
import { Pty } from "../agent/shell/pty/pty.ts";

interface EntryJson {
  sequence: number;
  type: string;
  scope: string;
  metadata?: Record<string, string>;
}

/** Runs `pact` with `input` on a pipe as its stdin. */
async function pactWithInput(args: string[], env: Record<string, string>, input: string) {
  const home = await Deno.makeTempDir({ prefix: "pact-test-home-" });
  try {
    const child = new Deno.Command(`${BIN}/pact`, {
      args,
      env: { HOME: home, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...env },
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const output = await child.output();
    clearTimeout(timer);
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

/** A session driven directly over the Shell stream (for resizes and many at once). */
class RawSession {
  readonly stream: ShellStream;
  text = "";
  sessionId = "";
  exitCode: number | undefined;
  error: Error | undefined;
  readonly done: Promise<void>;

  constructor(client: AgentClient, rows: number, cols: number) {
    const stream = client.shell();
    this.stream = stream;
    stream.write({ input: { $case: "open", value: { rows, cols, term: "xterm" } } });
    this.done = (async () => {
      const decoder = new TextDecoder();
      for await (const { output } of stream.outputs()) {
        if (output?.$case === "sessionId") this.sessionId = output.value;
        if (output?.$case === "stdout") this.text += decoder.decode(output.value, { stream: true });
        if (output?.$case === "exitCode") this.exitCode = output.value;
      }
    })().catch((err) => void (this.error = err as Error));
  }

  type(line: string): void {
    this.stream.write({ input: { $case: "stdin", value: new TextEncoder().encode(line) } });
  }

  async until(match: RegExp, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!match.test(this.text) && this.exitCode === undefined && !this.error) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${match}:\n${this.text}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.match(this.text, match, this.error?.message ?? this.text);
  }
}

/** Processes whose command line mentions `needle` (left-over shells). */
function processesMentioning(needle: string): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      const state = Deno.readTextFileSync(`/proc/${entry.name}/stat`).split(") ")[1]?.[0];
      if (cmdline.includes(needle) && state !== "Z") found.push(Number(entry.name));
    } catch { /* gone */ }
  }
  return found;
}

async function shellEntries(admin: Record<string, string>, sessionId: string, count: number) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const log = await runPact(["log", "--json", "-n", "500"], admin);
    assert.equal(log.code, 0, log.stderr);
    const entries = (JSON.parse(log.stdout) as EntryJson[]).filter((e) =>
      e.type === "SHELL_SESSION" && e.metadata?.session_id === sessionId
    ).sort((a, b) => a.sequence - b.sequence);
    if (entries.length >= count || Date.now() > deadline) return entries;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

Deno.test("pact shell runs a restricted, journaled, recorded session on a node and replays it", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "pact-test-shell-" });
  const journal = await JournalProcess.start({ dataDir });
  const node = await sandboxNode("n1", "ml", [journal.grpcAddress]);
  let agent: BootAgentProcess | undefined;
  const raws: RawSession[] = [];
  let client: AgentClient | undefined;
  try {
    await Deno.writeTextFile(node.configPath, TEST_SHELL_AUTH, { append: true });
    // The vCluster exists (an empty overlay), so the node boots.
    const journalAdmin = new JournalClient({
      endpoint: journal.endpoint,
      token: await journal.token(),
      timeoutSeconds: 10,
    });
    const empty = DeclaredState.encode(DeclaredState.fromPartial({})).finish();
    await journalAdmin.appendEntry({ entry: overlayUpdate("ml", empty) });
    journalAdmin.close();
    const started = await startShellAgent(journal, "n1", node.configPath);
    agent = started.agent;
    const address = started.address;
    const admin = { PACT_TOKEN: await journal.token(), PACT_ENDPOINT: journal.endpoint };
    const opsToken = await journal.token("pact-ops-ml", "ops@example.org");
    const ops = { PACT_TOKEN: opsToken };
    const at = ["--agent", address];

    // A session with piped input: what rbash allows and refuses, and the exit code.
    const input = [
      "uname -s",
      "id",
      "/usr/bin/id",
      "echo secret > /tmp/pact-shell-test-out",
      "cd /",
      "exit 3",
      "",
    ].join("\n");
    const session = await pactWithInput(["shell", "n1", ...at], ops, input);
    assert.equal(session.code, 3, session.stderr + session.stdout + agent.log);
    assert.match(session.stdout, /\rLinux\r\n/);
    assert.match(session.stdout, /id: command not found/);
    assert.match(
      session.stdout,
      /\/usr\/bin\/id: restricted: cannot specify `\/' in command names/,
    );
    assert.match(session.stdout, /restricted: cannot redirect output/);
    assert.match(session.stdout, /cd: restricted/);
    const sid = /session ([0-9a-f-]{36}) ended \(exit 3\)/.exec(session.stderr)?.[1];
    assert.ok(sid, session.stderr);
    await assert.rejects(Deno.stat("/tmp/pact-shell-test-out"), "the redirection wrote nothing");

    // Journal: start, one entry per command with the principal, end.
    const entries = await shellEntries(admin, sid, 8);
    const actions = entries.map((e) => [e.metadata?.action, e.metadata?.command ?? ""]);
    assert.deepEqual(actions, [
      ["start", ""],
      ["command", "uname -s"],
      ["command", "id"],
      ["command", "/usr/bin/id"],
      ["command", "echo secret > /tmp/pact-shell-test-out"],
      ["command", "cd /"],
      ["command", "exit 3"],
      ["end", ""],
    ]);
    assert.ok(entries.every((e) => e.scope === "node:n1"));
    assert.ok(entries.every((e) => e.metadata?.principal === "ops@example.org"));
    assert.equal(entries.at(-1)?.metadata?.exit_code, "3");
    // The audit log, and the session's bin directory is gone.
    const sessionDir = `${node.root}/run/pact/shell/${sid}`;
    const audit = await Deno.readTextFile(`${sessionDir}/audit.log`);
    assert.match(
      audit,
      new RegExp(`^PACT_AUDIT session=${sid} user=ops@example\\.org cmd=uname -s$`, "m"),
    );
    await assert.rejects(Deno.stat(`${sessionDir}/bin`));
    // Learning mode (the default): the command rbash did not find is captured.
    assert.match(
      audit,
      new RegExp(`^PACT_LEARN session=${sid} user=ops@example\\.org cmd=id$`, "m"),
    );
    assert.match(
      agent.log,
      /learning: .* ran id, which is not whitelisted; to allow it, add it to vCluster ml's shell_whitelist/,
    );

    // Replay: the recorded output, with and without --raw.
    const replay = await runPact(["shell", "replay", sid, ...at, "--no-delay"], ops);
    assert.equal(replay.code, 0, replay.stderr);
    assert.match(replay.stdout, /\rLinux\r\n[^]*id: command not found/);
    const raw = await runPact(["shell", "replay", sid, ...at, "--raw"], ops);
    assert.equal(raw.code, 0, raw.stderr);
    const header = JSON.parse(raw.stdout.split("\n")[0]!) as { version: number; width: number };
    assert.deepEqual([header.version, header.width], [2, 80]);
    const timed = await runPact(["shell", "replay", sid, ...at, "--speed", "100"], ops);
    assert.equal(timed.stdout, replay.stdout);
    const badId = await runPact(["shell", "replay", "nope", ...at], ops);
    assert.equal(badId.code, 1);
    assert.match(badId.stderr, /Invalid session id "nope"/);
    const badSpeed = await runPact(["shell", "replay", sid, ...at, "--speed", "0"], ops);
    assert.equal(badSpeed.code, 1);
    assert.match(badSpeed.stderr, /Invalid --speed "0"/);

    // Viewers may not open a shell nor read a recording; no token: exit 2 too.
    const viewer = { PACT_TOKEN: await journal.token("pact-viewer-ml", "viewer@example.org") };
    const denied = await pactWithInput(["shell", "n1", ...at], viewer, "uname\n");
    assert.equal(denied.code, 2, denied.stdout);
    assert.match(denied.stderr, /Shell requires higher privilege than exec/);
    const deniedReplay = await runPact(["shell", "replay", sid, ...at], viewer);
    assert.equal(deniedReplay.code, 2);
    const other = await pactWithInput(
      ["shell", "n1", ...at],
      { PACT_TOKEN: await journal.token("pact-ops-storage", "ops2@example.org") },
      "",
    );
    assert.equal(other.code, 2);
    assert.equal((await pactWithInput(["shell", "n1", ...at], {}, "")).code, 2);

    // A resize reaches the shell (SIGWINCH) and the recording.
    client = new AgentClient({
      endpoint: `http://${address}`,
      token: opsToken,
      timeoutSeconds: 10,
    });
    const sized = new RawSession(client, 30, 100);
    raws.push(sized);
    sized.type("echo size=$COLUMNS/$LINES\n");
    await sized.until(/size=100\/30/);
    sized.stream.write({ input: { $case: "resize", value: { rows: 40, cols: 120 } } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    sized.type("echo size=$COLUMNS/$LINES\n");
    await sized.until(/size=120\/40/);
    sized.type("exit\n");
    await sized.done;
    assert.equal(sized.exitCode, 0);
    const cast = await runPact(["shell", "replay", sized.sessionId, ...at, "--raw"], ops);
    assert.match(cast.stdout, /^\[[\d.]+,"r","120x40"\]$/m);

    // pact shell on a real terminal: raw mode, the local window size and
    // SIGWINCH resizes go through, and the terminal is cooked again after.
    const home = await Deno.makeTempDir({ prefix: "pact-test-home-" });
    const tty = Pty.spawn({
      path: "/bin/sh",
      argv: [
        "sh",
        "-c",
        `"$0" shell n1 --agent ${address}; echo "code=$?"; stty -a | grep -o -- '-*icanon'`,
        `${BIN}/pact`,
      ],
      env: { HOME: home, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", PACT_TOKEN: opsToken },
      rows: 30,
      cols: 100,
    });
    let screen = "";
    const reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of tty.output) screen += decoder.decode(chunk, { stream: true });
    })();
    const see = async (match: RegExp) => {
      const deadline = Date.now() + 15_000;
      while (!match.test(screen)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${match}:\n${screen}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const typeTty = (text: string) => tty.write(new TextEncoder().encode(text));
    await see(/pact:n1> $/);
    await typeTty("echo size=$COLUMNS/$LINES\r");
    await see(/size=100\/30/);
    tty.resize(40, 120);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await typeTty("echo size=$COLUMNS/$LINES\r");
    await see(/size=120\/40/);
    await typeTty("exit 5\r");
    assert.equal(await tty.exited, 0);
    await reading;
    await Deno.remove(home, { recursive: true });
    assert.match(screen, /code=5\r?\n/);
    assert.match(screen, /(^|\n)icanon\r?\n/, "the local terminal is cooked again");

    // Ten sessions at once; the eleventh is refused; closing frees them.
    for (let i = 0; i < 10; i++) raws.push(new RawSession(client, 24, 80));
    const ten = raws.slice(1);
    for (const raw of ten) await raw.until(/pact:n1> $/);
    const eleventh = await pactWithInput(["shell", "n1", ...at], ops, "");
    assert.equal(eleventh.code, 1, eleventh.stdout);
    assert.match(eleventh.stderr, /already has 10 shell sessions \(at most 10\)/);
    for (const raw of ten) raw.stream.write({ input: { $case: "close", value: true } });
    await Promise.all(ten.map((raw) => raw.done));
    assert.ok(ten.every((raw) => raw.exitCode === 128 + 1), "hung up");
    const again = await pactWithInput(["shell", "n1", ...at], ops, "exit 0\n");
    assert.equal(again.code, 0, again.stderr);

    // No shell of this node is left running.
    assert.deepEqual(processesMentioning(`${node.root}/run/pact/shell`), []);
    const stopped = await agent.stop();
    assert.equal(stopped.code, 0, agent.log);
  } finally {
    for (const raw of raws) raw.stream.cancel();
    client?.close();
    await agent?.stop();
    for (const pid of processesMentioning(`${node.root}/run/pact/shell`)) Deno.kill(pid, "SIGKILL");
    await removeSandboxNode(node);
    await journal.dispose();
    await Deno.remove(dataDir, { recursive: true });
  }
});
