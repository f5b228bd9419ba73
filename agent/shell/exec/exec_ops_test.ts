import assert from "node:assert/strict";
import type { Principal } from "../../../shared/auth/principal.ts";
import { isPactError } from "../../../shared/errors/mod.ts";
import type { ConfigEntry, ExecRecord } from "../../../shared/proto/gen/pact/config/config.ts";
import type { ExecRequest } from "../../../shared/proto/gen/pact/shell/shell.ts";
import { REAL_FS } from "./decide.ts";
import { type ExecMessage, ExecOps } from "./exec_ops.ts";
import { Whitelist, type WhitelistMode } from "./whitelist.ts";

function principal(role: string, name = `${role}@example.org`): Principal {
  return { principal: name, role, principalType: "human" } as Principal;
}

function setup(mode: WhitelistMode = "strict") {
  const entries: ConfigEntry[] = [];
  const changing: string[] = [];
  /** Journal appends and emitted messages, in the order they happened. */
  const events: string[] = [];
  const ops = new ExecOps({
    node: { nodeId: "n1", vcluster: "ml" },
    whitelist: Whitelist.of(["seq"]),
    mode,
    fs: REAL_FS,
    journal: {
      append: (entry) => {
        events.push(`journal:${entry.metadata.phase}`);
        return Promise.resolve(entries.push(entry));
      },
    },
    onStateChanging: (command) => changing.push(command),
    killGraceMs: 500,
    log: () => {},
  });
  const run = async (
    who: Principal,
    command: string,
    args: string[],
    extra: Partial<ExecRequest> = {},
  ) => {
    const messages: ExecMessage[] = [];
    await ops.exec(
      who,
      { command, args, timeoutSeconds: 0, outputLimitBytes: 0, ...extra },
      (m) => {
        events.push(m.$case);
        return Promise.resolve(void messages.push(m));
      },
      new AbortController().signal,
    );
    return messages;
  };
  const records = () =>
    entries.map((e) => (e.payload as { $case: "exec"; value: ExecRecord }).value);
  return { ops, entries, records, changing, run, events };
}

const ops = principal("pact-ops-ml");
const viewer = principal("pact-viewer-ml");
const admin = principal("pact-platform-admin");

Deno.test("ExecOps.exec() journals the intent before running and the outcome after", async () => {
  const { run, records, entries, changing, events } = setup();
  const messages = await run(ops, "echo", ["hi"]);
  assert.deepEqual(events, ["journal:intent", "stdout", "journal:outcome", "summary", "exitCode"]);
  assert.deepEqual(messages[0], { $case: "stdout", value: new TextEncoder().encode("hi\n") });
  assert.equal(messages.at(-2)?.$case, "summary");
  assert.deepEqual(messages.at(-1), { $case: "exitCode", value: 0 });
  assert.deepEqual(records().map((r) => r.phase), ["intent", "outcome"]);
  const [intent, outcome] = records();
  assert.equal(intent!.exitCode, undefined);
  assert.deepEqual(intent!.args, ["hi"]);
  assert.equal(outcome!.exitCode, 0);
  assert.equal(outcome!.stdoutBytes, 3);
  assert.equal(
    outcome!.stdoutSha256,
    "98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4",
  );
  assert.equal(outcome!.decision, "whitelisted");
  assert.equal(entries[0]!.metadata.principal, "pact-ops-ml@example.org");
  assert.deepEqual(changing, [], "echo does not open a commit window");
});

Deno.test("ExecOps.exec() tells the drift loop about a state-changing command", async () => {
  const { run, changing, records } = setup();
  await run(ops, "sysctl", ["-n", "kernel.ostype"]);
  assert.deepEqual(changing, ["sysctl -n kernel.ostype"]);
  assert.equal(records()[0]!.stateChanging, true);
});

Deno.test("ExecOps.exec() refuses and journals: strict denies, learning suggests", async () => {
  for (const mode of ["strict", "learning", "bypass"] as const) {
    const { run, entries } = setup(mode);
    await assert.rejects(run(ops, "lsof", []), (err) => isPactError(err, "NOT_WHITELISTED"));
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.metadata.phase, "refused");
    assert.equal(entries[0]!.metadata.decision, mode === "learning" ? "learning" : "denied");
    assert.equal(
      entries[0]!.metadata.suggestion,
      mode === "learning" ? "add lsof to exec_whitelist" : undefined,
    );
  }
});

Deno.test("ExecOps.exec() lets a viewer read and refuses state-changing commands", async () => {
  const { run, entries } = setup();
  assert.deepEqual((await run(viewer, "seq", ["2"]))[0], {
    $case: "stdout",
    value: new TextEncoder().encode("1\n2\n"),
  });
  await assert.rejects(
    run(viewer, "sysctl", ["-n", "kernel.ostype"]),
    (err) => isPactError(err, "PERMISSION_DENIED"),
  );
  await assert.rejects(run(viewer, "hostname", ["x"]), /State-changing exec of hostname/);
  await assert.rejects(
    run(principal("pact-ops-storage"), "echo", []),
    (err) => isPactError(err, "PERMISSION_DENIED"),
  );
  assert.deepEqual(entries.map((e) => e.metadata.phase), [
    "intent",
    "outcome",
    "refused",
    "refused",
    "refused",
  ]);
  assert.equal(entries.at(-1)!.metadata.principal, "pact-ops-storage@example.org");
});

Deno.test("ExecOps.exec() lets a platform admin bypass the whitelist, never for bash", async () => {
  const { run, records } = setup("strict");
  const messages = await run(admin, "id", ["-u"]);
  assert.deepEqual(messages.at(-1), { $case: "exitCode", value: 0 });
  assert.deepEqual(records().map((r) => r.decision), ["bypass", "bypass"]);
  await assert.rejects(
    run(admin, "bash", ["-c", "id"]),
    (err) => isPactError(err, "NOT_WHITELISTED"),
  );
});

Deno.test("ExecOps.exec() kills at the timeout and caps output", async () => {
  const { run, records } = setup();
  const slow = await run(ops, "tail", ["-f", "/dev/null"], { timeoutSeconds: 1 });
  assert.deepEqual(slow.at(-1), { $case: "exitCode", value: 124 });
  const summary = slow.find((m) => m.$case === "summary");
  assert.equal(summary?.$case === "summary" && summary.value.timedOut, true);
  const big = await run(ops, "head", ["-c", "50000", "/dev/zero"], { outputLimitBytes: 100 });
  const stdout = big.filter((m) => m.$case === "stdout").reduce(
    (n, m) => n + (m.value as Uint8Array).length,
    0,
  );
  assert.equal(stdout, 100);
  const outcome = records().at(-1)!;
  assert.equal(outcome.truncated, true);
  assert.equal(outcome.stdoutBytes, 100);
  assert.equal(records()[1]!.timedOut, true);
});

Deno.test("ExecOps.list() reports the effective whitelist and mode to readers only", () => {
  const { ops: exec } = setup("learning");
  const list = exec.list(viewer);
  assert.equal(list.mode, "learning");
  assert.equal(list.commands.length, 39);
  assert.throws(
    () => exec.list(principal("pact-viewer-other")),
    (err) => isPactError(err, "PERMISSION_DENIED"),
  );
});

Deno.test("ExecOps.exec() kills the command when its output cannot be handed on", async () => {
  const { ops: exec, entries } = setup();
  const started = performance.now();
  await assert.rejects(
    exec.exec(
      ops,
      { command: "seq", args: ["1000000000"], timeoutSeconds: 60, outputLimitBytes: 0 },
      () => Promise.reject(new Error("stream closed")),
      new AbortController().signal,
    ),
    /Exec of .*seq failed: stream closed/,
  );
  assert.ok(performance.now() - started < 20_000, "killed long before its 60 s timeout");
  assert.equal(entries.at(-1)!.metadata.error?.includes("stream closed"), true);
});

Deno.test("ExecOps.exec() kills the command when the caller goes away, and journals it", async () => {
  const { ops: exec, entries } = setup();
  const controller = new AbortController();
  const messages: ExecMessage[] = [];
  const started = performance.now();
  const timer = setTimeout(() => controller.abort(), 300);
  await exec.exec(
    ops,
    { command: "tail", args: ["-f", "/dev/null"], timeoutSeconds: 60, outputLimitBytes: 0 },
    (m) => Promise.resolve(void messages.push(m)),
    controller.signal,
  );
  clearTimeout(timer);
  assert.ok(performance.now() - started < 20_000, "killed long before its 60 s timeout");
  assert.deepEqual(messages, [], "nothing is sent to a caller that went away");
  const outcome = entries.at(-1)!;
  assert.equal(outcome.metadata.phase, "outcome");
  assert.equal(outcome.metadata.cancelled, "true");
});
