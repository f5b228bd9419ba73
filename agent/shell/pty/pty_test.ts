import assert from "node:assert/strict";
import { clampDimension, Pty, sessionMembers } from "./pty.ts";

async function collect(pty: Pty): Promise<string> {
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of pty.output) text += decoder.decode(chunk, { stream: true });
  return text;
}

/** Waits until `read()` matches, or fails after `timeoutMs`. */
async function until(read: () => string, match: RegExp, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!match.test(read())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${match}: ${read()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("a child on a PTY sees a terminal of the asked size, a resize, its input, and exits with its code", async () => {
  const pty = Pty.spawn({
    path: "/bin/sh",
    argv: ["sh", "-c", 'stty size; tty; read x; stty size; echo "got $x"; exit 7'],
    env: { PATH: "/usr/bin:/bin" },
    rows: 30,
    cols: 100,
  });
  let text = "";
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of pty.output) text += decoder.decode(chunk, { stream: true });
  })();
  await until(() => text, /\/dev\/pts\/\d+/);
  assert.match(text, /^30 100\r\n/, "stty size on the slave");
  pty.resize(40, 120);
  await pty.write(new TextEncoder().encode("hello\n"));
  assert.equal(await pty.exited, 7);
  await reading;
  assert.match(text, /40 120\r\ngot hello\r\n/);
  assert.deepEqual(sessionMembers(pty.pid), [], "nothing of the session is left");
});

Deno.test("window sides are clamped to 1..500", async () => {
  assert.equal(clampDimension(9999, 24), 500);
  assert.equal(clampDimension(0, 24), 24);
  assert.equal(clampDimension(-3, 80), 80);
  assert.equal(clampDimension(42.7, 80), 42);
  const pty = Pty.spawn({
    path: "/bin/sh",
    argv: ["sh", "-c", "stty size"],
    env: {},
    rows: 100_000,
    cols: 0,
  });
  const text = await collect(pty);
  assert.equal(await pty.exited, 0);
  assert.equal(text, "500 80\r\n");
});

Deno.test("close hangs up the child and kills what it left running in its session", async () => {
  const pty = Pty.spawn({
    path: "/bin/sh",
    argv: ["sh", "-c", "sleep 300 & echo started; sleep 300"],
    env: { PATH: "/usr/bin:/bin" },
    rows: 24,
    cols: 80,
  });
  const output = collect(pty);
  // The background sleep and the foreground one both belong to the session.
  await until(() => String(sessionMembers(pty.pid).length), /^3$/);
  const code = await pty.close(2_000);
  assert.equal(code, 128 + 1, "SIGHUP");
  assert.match(await output, /started/);
  await until(() => String(sessionMembers(pty.pid).length), /^0$/, 5_000);
});

Deno.test("a program that cannot be started is a clear error", () => {
  assert.throws(
    () => Pty.spawn({ path: "/nonexistent/sh", argv: ["sh"], env: {}, rows: 24, cols: 80 }),
    /Cannot start \/nonexistent\/sh on a terminal/,
  );
});
