import assert from "node:assert/strict";
import { HistoryAudit, sanitizePrincipal } from "./history_audit.ts";
import { AsciicastRecorder } from "./recording.ts";
import { linkCommands, shellCommands } from "./whitelist.ts";

Deno.test("a recording is asciicast v2: header, output and resize events, bounded, hashed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pact-cast-" });
  try {
    let now = 1000;
    const recorder = await AsciicastRecorder.create({
      path: `${dir}/s.cast`,
      cols: 100,
      rows: 30,
      term: "xterm",
      title: "t",
      bytesMax: 400,
      now: () => now,
    });
    const euro = new TextEncoder().encode("€");
    recorder.output(euro.subarray(0, 1)); // A split UTF-8 sequence waits for its end.
    now = 1500;
    recorder.output(euro.subarray(1));
    recorder.resize(120, 40);
    now = 2250;
    recorder.output(new TextEncoder().encode("x".repeat(500)));
    recorder.output(new TextEncoder().encode("dropped"));
    assert.ok(recorder.truncated);
    const sha = await recorder.close();
    const text = await Deno.readTextFile(`${dir}/s.cast`);
    const lines = text.trim().split("\n").map((line) => JSON.parse(line));
    assert.deepEqual(lines[0], {
      version: 2,
      width: 100,
      height: 30,
      timestamp: lines[0].timestamp,
      env: { TERM: "xterm", SHELL: "/bin/rbash" },
      title: "t",
    });
    assert.deepEqual(lines.slice(1, 3), [[0.5, "o", "€"], [0.5, "r", "120x40"]]);
    assert.match(lines[3][2], /recording truncated at 400 bytes/);
    assert.equal(lines.length, 4);
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    assert.equal(
      sha,
      Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join(""),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the history audit turns new history lines into PACT_AUDIT lines and commands, once each", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pact-audit-" });
  try {
    const commands: string[] = [];
    const audit = new HistoryAudit({
      historyPath: `${dir}/history`,
      auditPath: `${dir}/audit.log`,
      sessionId: "sid",
      principal: "jane doe@example.org;rm",
      onCommand: (command) => commands.push(command),
    });
    await audit.scan(); // No file yet.
    await Deno.writeTextFile(`${dir}/history`, "uname -a\n#1700000000\nls\tx\npart");
    await audit.scan();
    await audit.scan();
    assert.deepEqual(commands, ["uname -a", "ls x"]);
    await Deno.writeTextFile(`${dir}/history`, "ial\n", { append: true });
    await audit.scan(true);
    await Deno.writeTextFile(`${dir}/history`, "exit 3");
    await audit.scan(true); // Rewritten shorter (history -w): read again from the top.
    assert.deepEqual(commands, ["uname -a", "ls x", "partial", "exit 3"]);
    assert.equal(audit.count, 4);
    const lines = (await Deno.readTextFile(`${dir}/audit.log`)).trim().split("\n");
    assert.equal(lines[0], "PACT_AUDIT session=sid user=jane_doe@example.org_rm cmd=uname -a");
    assert.equal(lines.length, 4);
    assert.equal(sanitizePrincipal("a.b-c_d@e"), "a.b-c_d@e");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a session's bin links whitelisted binaries only, never shells or interpreters", async () => {
  const { commands, refused } = shellCommands(["vim", "env", "../x", "lsof", "busybox"]);
  assert.ok(commands.includes("uname") && commands.includes("lsof"));
  assert.deepEqual(refused, ["vim", "env", "../x", "busybox"]);
  const dir = await Deno.makeTempDir({ prefix: "pact-bin-" });
  const sys = await Deno.makeTempDir({ prefix: "pact-sys-" });
  try {
    await Deno.writeTextFile(`${sys}/real-tool`, "");
    await Deno.symlink(`${sys}/real-tool`, `${sys}/uname`);
    await Deno.writeTextFile(`${sys}/python3.11`, "");
    await Deno.symlink(`${sys}/python3.11`, `${sys}/cat`); // A whitelisted name that is an interpreter.
    const linked = await linkCommands(dir, ["uname", "cat", "missing"], [sys]);
    assert.deepEqual(linked, ["uname"]);
    assert.equal(await Deno.readLink(`${dir}/uname`), `${sys}/uname`);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(sys, { recursive: true });
  }
});
