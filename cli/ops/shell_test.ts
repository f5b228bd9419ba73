import assert from "node:assert/strict";
import type { ShellInput, ShellOutput } from "../../shared/proto/gen/pact/shell/shell.ts";
import { type LocalTerminal, parseCast, parseSpeed, replayCast, runShell } from "./shell.ts";

Deno.test("replay waits the recorded pauses, scaled by speed and capped, and skips resizes", async () => {
  const { events } = parseCast(
    '{"version":2,"width":80,"height":24}\n[0.5,"o","a"]\n[0.6,"r","100x30"]\n[10.5,"o","b"]\n[11,"o","c"]\n',
  );
  const waits: number[] = [];
  let out = "";
  await replayCast(events, { speed: 2, delay: true }, (text) => (out += text), (ms) => {
    waits.push(Math.round(ms));
    return Promise.resolve();
  });
  assert.equal(out, "abc");
  assert.deepEqual(waits, [250, 1000, 250]);
  waits.length = 0;
  await replayCast(events, { speed: 1, delay: false }, () => {}, (ms) => {
    waits.push(ms);
    return Promise.resolve();
  });
  assert.deepEqual(waits, []);
  assert.throws(() => parseCast('{"version":1}'), /Not an asciicast v2 recording: version 1/);
  assert.throws(() => parseCast('{"version":2}\n[1,"o"]'), /event 1 is not \[time, kind, data\]/);
  assert.equal(parseSpeed("4"), 4);
  assert.throws(() => parseSpeed("-1"), /Invalid --speed "-1"/);
});

Deno.test("runShell opens with the terminal's size, forwards input and resizes, restores the terminal", async () => {
  const sent: ShellInput[] = [];
  let ended = false;
  const replies: ShellOutput[] = [
    { output: { $case: "sessionId", value: "sid" } },
    { output: { $case: "stdout", value: new TextEncoder().encode("hi") } },
    { output: { $case: "exitCode", value: 3 } },
  ];
  let resize = () => {};
  const raw: boolean[] = [];
  let shown = "";
  const terminal: LocalTerminal = {
    interactive: true,
    term: "xterm",
    size: () => ({ rows: 30, cols: 100 }),
    setRaw: (on) => void raw.push(on),
    onResize: (listener) => {
      resize = listener;
      return () => (resize = () => {});
    },
    async *input() {
      yield new TextEncoder().encode("ls\n");
    },
    output: (bytes) => (shown += new TextDecoder().decode(bytes)),
    notice: () => {},
  };
  const api = {
    shell: () => ({
      write: (input: ShellInput) => void sent.push(input),
      end: () => void (ended = true),
      cancel: () => {},
      async *outputs() {
        for (const reply of replies) {
          await new Promise((resolve) => setTimeout(resolve, 5));
          if (reply.output?.$case === "stdout") resize();
          yield reply;
        }
      },
    }),
    getRecording: () => (async function* () {})(),
  };
  const result = await runShell(api, terminal, "n1");
  assert.deepEqual(result, { node: "n1", session_id: "sid", exit_code: 3 });
  assert.equal(shown, "hi");
  assert.deepEqual(raw, [true, false]);
  assert.ok(ended);
  const kinds = sent.map((s) => s.input?.$case);
  assert.deepEqual(sent[0], {
    input: { $case: "open", value: { rows: 30, cols: 100, term: "xterm" } },
  });
  assert.ok(kinds.includes("stdin") && kinds.includes("resize"), kinds.join());
});
