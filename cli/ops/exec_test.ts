import assert from "node:assert/strict";
import { isPactError } from "../../shared/errors/mod.ts";
import {
  collectExec,
  type ExecApi,
  type ExecMessage,
  execRequest,
  notes,
  runExec,
} from "./exec.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

function fakeApi(messages: ExecMessage[]): ExecApi {
  return {
    async *exec() {
      for (const m of messages) yield m;
    },
    listCommands: () => Promise.resolve({ commands: [], mode: "strict" }),
  };
}

const summary: ExecMessage = {
  $case: "summary",
  value: {
    execId: "e1",
    durationMs: 12,
    timedOut: false,
    stdoutTruncated: true,
    stderrTruncated: false,
    decision: "whitelisted",
    stateChanging: false,
  },
};

Deno.test("runExec() hands stdout and stderr to their sinks in order and returns the exit code", async () => {
  const seen: string[] = [];
  const api = fakeApi([
    { $case: "stdout", value: bytes("a") },
    { $case: "stderr", value: bytes("b") },
    { $case: "stdout", value: bytes("c") },
    summary,
    { $case: "exitCode", value: 3 },
  ]);
  const result = await runExec(api, "n1", execRequest(["ls"]), {
    stdout: (b) => seen.push(`out:${new TextDecoder().decode(b)}`),
    stderr: (b) => seen.push(`err:${new TextDecoder().decode(b)}`),
  }, new AbortController().signal);
  assert.deepEqual(seen, ["out:a", "err:b", "out:c"]);
  assert.equal(result.exit_code, 3);
  assert.equal(result.exec_id, "e1");
  assert.deepEqual(notes(result), ["(stdout truncated at the output limit)", "(exit code: 3)"]);
});

Deno.test("runExec() fails on an agent error or a stream without an exit code", async () => {
  const sink = { stdout: () => {}, stderr: () => {} };
  const signal = new AbortController().signal;
  await assert.rejects(
    runExec(fakeApi([{ $case: "error", value: "boom" }]), "n1", execRequest(["ls"]), sink, signal),
    /Exec on n1 failed: boom/,
  );
  await assert.rejects(
    runExec(fakeApi([]), "n1", execRequest(["ls"]), sink, signal),
    /ended the exec without an exit code/,
  );
});

Deno.test("collectExec() decodes output split inside a UTF-8 character", async () => {
  const euro = bytes("€\n");
  const view = await collectExec(
    fakeApi([
      { $case: "stdout", value: euro.subarray(0, 1) },
      { $case: "stdout", value: euro.subarray(1) },
      { $case: "exitCode", value: 0 },
    ]),
    "n1",
    execRequest(["echo", "€"]),
    new AbortController().signal,
  );
  assert.equal(view.output, "€\n");
  assert.equal(view.result.duration_ms, null);
});

Deno.test("execRequest() needs a command and passes the arguments verbatim", () => {
  assert.deepEqual(execRequest(["grep", "-e", "a b", "--", "x"], { timeoutSeconds: 5 }), {
    command: "grep",
    args: ["-e", "a b", "--", "x"],
    timeoutSeconds: 5,
    outputLimitBytes: 0,
  });
  assert.throws(() => execRequest([]), (err) => isPactError(err, "INVALID_ARGUMENT"));
});
