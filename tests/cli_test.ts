/**
 * Black-box tests of the `pact` CLI against a real pact-journal process:
 * golden output of help, status and log (text and JSON), exit codes.
 */
import assert from "node:assert/strict";
import { mintDevToken } from "../shared/auth/dev_token.ts";
import { runPact } from "./harness/cli_process.ts";
import { assertGolden, normalize } from "./harness/golden.ts";
import { JournalProcess, TEST_AUTH } from "./harness/journal_process.ts";

/** One journal with a fixed history, shared by the read-only tests below. */
async function withSeededJournal(
  body: (j: JournalProcess, env: Record<string, string>) => Promise<void>,
) {
  const journal = await JournalProcess.start();
  try {
    const env = { PACT_ENDPOINT: journal.endpoint, PACT_TOKEN: await journal.token() };
    for (
      const args of [
        ["commit", "-m", "add hugepages", "--node", "node042"],
        ["commit", "-m", "nfs scratch mount", "--node", "node042", "--ttl", "3600"],
        ["commit", "-m", "chrony drift fix", "--node", "node001"],
      ]
    ) {
      const result = await runPact(args, env);
      assert.equal(result.code, 0, result.stderr);
    }
    await body(journal, env);
  } finally {
    await journal.dispose();
  }
}

Deno.test("pact --help and every command's help match their golden text", async () => {
  for (
    const [file, args] of [
      ["help.txt", ["--help"]],
      ["help-status.txt", ["status", "--help"]],
      ["help-log.txt", ["log", "--help"]],
      ["help-watch.txt", ["watch", "--help"]],
      ["help-commit.txt", ["commit", "--help"]],
      ["help-cluster.txt", ["cluster", "--help"]],
      ["help-completions.txt", ["completions", "--help"]],
      ["help-approve.txt", ["approve", "--help"]],
      ["help-group.txt", ["group", "--help"]],
      ["help-group-set-policy.txt", ["group", "set-policy", "--help"]],
      ["help-enroll.txt", ["enroll", "--help"]],
      ["help-node.txt", ["node", "--help"]],
      ["help-node-import.txt", ["node", "import", "--help"]],
      ["help-service.txt", ["service", "--help"]],
      ["help-service-logs.txt", ["service", "logs", "--help"]],
      ["help-diag.txt", ["diag", "--help"]],
    ] as const
  ) {
    const result = await runPact([...args]);
    assert.equal(result.code, 0, result.stderr);
    await assertGolden(file, result.stdout);
  }
});

Deno.test("pact --version prints the version without needing a token", async () => {
  const result = await runPact(["--version"]);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^\d{4}\.\d+\.\d+\n$/);
});

Deno.test("pact status, status <node> and log match their golden text and JSON", async () => {
  await withSeededJournal(async (journal, env) => {
    for (
      const [file, args] of [
        ["status.txt", ["status"]],
        ["status.json", ["status", "--json"]],
        ["status-node.txt", ["status", "node042"]],
        ["status-node.json", ["status", "node042", "-o", "json"]],
        ["log.txt", ["log"]],
        ["log.json", ["log", "-n", "2", "--json"]],
        ["log-scope.txt", ["log", "--scope", "node:node001"]],
      ] as const
    ) {
      const result = await runPact([...args], env);
      assert.equal(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
      await assertGolden(file, normalize(result.stdout, journal.endpoint));
    }
  });
});

Deno.test("pact log --json output is machine-readable with every documented field", async () => {
  await withSeededJournal(async (_journal, env) => {
    const entries = JSON.parse((await runPact(["log", "--json"], env)).stdout);
    assert.equal(entries.length, 3);
    assert.deepEqual(entries.map((e: { sequence: number }) => e.sequence), [2, 1, 0]);
    assert.equal(entries[1].ttl_seconds, 3600);
    assert.equal(entries[0].author.principal, "admin@example.org");
    assert.equal(entries[0].author.role, "pact-platform-admin");
    assert.ok(!Number.isNaN(Date.parse(entries[0].timestamp)));
  });
});

Deno.test("PACT_OUTPUT=json and ~/.config/pact/cli.toml select JSON output", async () => {
  await withSeededJournal(async (_journal, env) => {
    const fromEnv = await runPact(["status"], { ...env, PACT_OUTPUT: "json" });
    assert.equal(JSON.parse(fromEnv.stdout).nodes.length, 2);
    const home = await Deno.makeTempDir({ prefix: "pact-test-home-" });
    try {
      await Deno.mkdir(`${home}/.config/pact`, { recursive: true });
      await Deno.writeTextFile(
        `${home}/.config/pact/cli.toml`,
        `endpoint = "${env.PACT_ENDPOINT}"\noutput_format = "json"\n`,
      );
      await Deno.writeTextFile(`${home}/.config/pact/token`, env.PACT_TOKEN!);
      const fromFile = await runPact(["log", "-n", "1"], {}, home);
      assert.equal(fromFile.code, 0, fromFile.stderr);
      assert.equal(JSON.parse(fromFile.stdout).length, 1);
      // A flag still beats the file.
      assert.match(
        (await runPact(["log", "-n", "1", "-o", "text"], {}, home)).stdout,
        /^SEQ\s+TIME/,
      );
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  });
});

Deno.test("pact exits 2 when the token is missing, invalid, expired or the role may not write", async () => {
  await withSeededJournal(async (journal, env) => {
    const expired = await mintDevToken({
      ...TEST_AUTH,
      principal: "a@b",
      role: "pact-platform-admin",
      nowMs: Date.now() - 7_200_000,
      ttlSeconds: 3600,
    });
    const forged = await mintDevToken({
      ...TEST_AUTH,
      secret: "wrong",
      principal: "a@b",
      role: "pact-platform-admin",
    });
    const cases: [string, Record<string, string>, string[], RegExp][] = [
      ["no token", { PACT_ENDPOINT: env.PACT_ENDPOINT! }, ["status"], /Not authenticated/],
      ["garbage token", { ...env, PACT_TOKEN: "garbage" }, ["status"], /not a well-formed JWT/],
      ["forged token", { ...env, PACT_TOKEN: forged }, ["log"], /signature verification failed/],
      ["expired token", { ...env, PACT_TOKEN: expired }, ["status"], /expired/],
      [
        "viewer writing",
        { ...env, PACT_TOKEN: await journal.token("pact-viewer-ml") },
        ["commit", "-m", "x", "--node", "node042"],
        /read-only/,
      ],
      [
        "ops outside its vCluster",
        { ...env, PACT_TOKEN: await journal.token("pact-ops-other") },
        ["commit", "-m", "x", "--node", "node042"],
        /may only write inside vCluster other/,
      ],
      [
        "unknown role reading",
        { ...env, PACT_TOKEN: await journal.token("wizard") },
        ["log"],
        /unknown role/,
      ],
    ];
    for (const [what, caseEnv, args, message] of cases) {
      const result = await runPact(args, caseEnv);
      assert.equal(result.code, 2, `${what}: ${result.stderr}`);
      assert.match(result.stderr, message, what);
      assert.equal(result.stderr.trim().split("\n").length, 1, `${what}: one line`);
      assert.equal(result.stdout, "", what);
    }
    // A viewer may read.
    const viewer = await runPact(["status"], {
      ...env,
      PACT_TOKEN: await journal.token("pact-viewer-ml"),
    });
    assert.equal(viewer.code, 0, viewer.stderr);
  });
});

Deno.test("pact exits 5 with one line when the journal is unreachable or silent", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const silentPort = listener.addr.port;
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    // Accept and hold connections without ever answering: a hung journal.
    for await (const conn of listener) held.push(conn);
  })();
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = closed.addr.port;
  closed.close();
  try {
    const token = "x.y.z";
    const refused = await runPact(["status"], {
      PACT_ENDPOINT: `http://127.0.0.1:${closedPort}`,
      PACT_TOKEN: token,
    });
    assert.equal(refused.code, 5, refused.stderr);
    assert.equal(
      refused.stderr,
      `pact: Journal unreachable at http://127.0.0.1:${closedPort}: connection refused\n`,
    );
    const silent = await runPact(["--timeout", "1", "log"], {
      PACT_ENDPOINT: `http://127.0.0.1:${silentPort}`,
      PACT_TOKEN: token,
    });
    assert.equal(silent.code, 5, silent.stderr);
    assert.match(
      silent.stderr,
      /^pact: Journal at http:\/\/127\.0\.0\.1:\d+ did not answer within 1 s\n$/,
    );
    const json = await runPact(["status", "--json"], {
      PACT_ENDPOINT: `127.0.0.1:${closedPort}`,
      PACT_TOKEN: token,
    });
    assert.equal(json.code, 5);
    assert.deepEqual(JSON.parse(json.stderr).error.exit_code, 5);
    assert.equal(JSON.parse(json.stderr).error.code, "UNAVAILABLE");
  } finally {
    listener.close();
    for (const conn of held) conn.close();
    await accepting.catch(() => {});
  }
});

Deno.test("pact exits 4 on a concurrent modification and 1 on invalid input", async () => {
  await withSeededJournal(async (_journal, env) => {
    const stale = await runPact(
      ["commit", "-m", "late", "--node", "node042", "--if-version", "0"],
      env,
    );
    assert.equal(stale.code, 4, stale.stderr);
    assert.match(stale.stderr, /node:node042: its version is 1, the write expected 0/);
    const current = await runPact([
      "commit",
      "-m",
      "on time",
      "--node",
      "node042",
      "--if-version",
      "1",
    ], env);
    assert.equal(current.code, 0, current.stderr);
    const shortTtl = await runPact(["commit", "-m", "x", "--node", "node042", "--ttl", "60"], env);
    assert.equal(shortTtl.code, 1);
    assert.equal(shortTtl.stderr, "pact: TTL must be >= 900 seconds (15 minutes): got 60\n");
    const badScope = await runPact(["log", "--scope", "rack:7"], env);
    assert.equal(badScope.code, 1);
    assert.match(badScope.stderr, /Invalid scope/);
    const unknown = await runPact(["frobnicate"], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown command 'frobnicate'/);
    const missing = await runPact(["commit", "--node", "n1"], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /required option '-m, --message <text>' not specified/);
  });
});

Deno.test("pact watch streams new entries and stops after --count", async () => {
  await withSeededJournal(async (journal, env) => {
    const replay = await runPact(["watch", "--from", "0", "--count", "3"], env);
    assert.equal(replay.code, 0, replay.stderr);
    await assertGolden("watch.txt", normalize(replay.stdout, journal.endpoint));
    const home = await Deno.makeTempDir();
    const watcher = new Deno.Command(`${new URL("../bin/pact", import.meta.url).pathname}`, {
      args: ["watch", "--json", "--count", "2"],
      env: { ...env, HOME: home },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    try {
      // Keep committing until the watcher, once subscribed, has seen two new entries.
      const output = watcher.output();
      let done = false;
      output.then(() => (done = true));
      for (let i = 0; !done && i < 100; i++) {
        await runPact(["commit", "-m", `live ${i}`, "--node", "node007"], env);
        await new Promise((r) => setTimeout(r, 100));
      }
      const result = await output;
      assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
      const lines = new TextDecoder().decode(result.stdout).trim().split("\n").map((l) =>
        JSON.parse(l)
      );
      assert.equal(lines.length, 2);
      assert.equal(lines[0].kind, "NODE_DELTA");
      assert.equal(lines[0].entry.scope, "node:node007");
      assert.ok(lines[0].entry.sequence >= 3, "only new entries without --from");
      assert.equal(lines[1].entry.sequence, lines[0].entry.sequence + 1);
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  });
});

Deno.test("pact watch ends cleanly on Ctrl-C (SIGINT) with exit 0", async () => {
  await withSeededJournal(async (_journal, env) => {
    const home = await Deno.makeTempDir();
    const watcher = new Deno.Command(new URL("../bin/pact", import.meta.url).pathname, {
      args: ["watch", "--from", "0"],
      env: { ...env, HOME: home },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    try {
      // Wait for the replayed history to arrive, proving the stream is open.
      const reader = watcher.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let seen = "";
      while (!seen.includes("seq:2")) seen += (await reader.read()).value ?? "";
      watcher.kill("SIGINT");
      const status = await watcher.status;
      reader.releaseLock();
      const stderr = await new Response(watcher.stderr).text();
      assert.equal(status.code, 0, stderr);
      assert.equal(stderr, "");
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  });
});

Deno.test("pact completions produce scripts the shells accept", async () => {
  for (const shell of ["bash", "zsh", "fish"]) {
    const result = await runPact(["completions", shell]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /status/);
    assert.match(result.stdout, shell === "fish" ? /-l endpoint/ : /--endpoint/);
    const interpreter = await which(shell);
    if (interpreter === undefined) continue;
    const file = await Deno.makeTempFile({ suffix: `.${shell}` });
    try {
      await Deno.writeTextFile(file, result.stdout);
      const check = await new Deno.Command(interpreter, { args: ["-n", file], stderr: "piped" })
        .output();
      assert.equal(check.code, 0, `${shell} -n: ${new TextDecoder().decode(check.stderr)}`);
    } finally {
      await Deno.remove(file);
    }
  }
  const bad = await runPact(["completions", "tcsh"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /Allowed choices are bash, zsh, fish/);
});

Deno.test("the bash completion completes commands, subcommand options and global flags", async () => {
  if (await which("bash") === undefined) return;
  const script = (await runPact(["completions", "bash"])).stdout;
  const complete = async (line: string) => {
    const words = line.split(" ");
    const program = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); ` +
      `COMP_CWORD=${words.length - 1}; _pact; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const out = await new Deno.Command("bash", { args: ["-c", program] }).output();
    return new TextDecoder().decode(out.stdout).trim().split("\n").sort();
  };
  assert.deepEqual(await complete("pact st"), ["status"]);
  assert.ok((await complete("pact log --")).includes("--scope"));
  assert.ok((await complete("pact log --")).includes("--endpoint"));
  assert.deepEqual(await complete("pact commit --tt"), ["--ttl"]);
});

async function which(command: string): Promise<string | undefined> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      const path = `${dir}/${command}`;
      if ((await Deno.stat(path)).isFile) return path;
    } catch { /* not here */ }
  }
  return undefined;
}

Deno.test("the fish completion completes commands and options", async () => {
  if (await which("fish") === undefined) return;
  const script = await Deno.makeTempFile({ suffix: ".fish" });
  try {
    await Deno.writeTextFile(script, (await runPact(["completions", "fish"])).stdout);
    const out = await new Deno.Command("fish", {
      args: ["-c", `source ${script}; complete -C 'pact lo'; complete -C 'pact log --sc'`],
    }).output();
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n").map((l) =>
      l.split("\t")[0]
    );
    assert.deepEqual(lines, ["log", "login", "logout", "--scope"]);
  } finally {
    await Deno.remove(script);
  }
});

Deno.test("pact watch reconnects after a journal restart and resumes without gaps", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "pact-watch-restart-" });
  const home = await Deno.makeTempDir();
  let journal = await JournalProcess.start({ dataDir });
  try {
    const port = Number(journal.grpcAddress.split(":").at(-1));
    const env = { PACT_ENDPOINT: journal.endpoint, PACT_TOKEN: await journal.token() };
    assert.equal((await runPact(["commit", "-m", "before watch", "--node", "n1"], env)).code, 0);
    const watcher = new Deno.Command(new URL("../bin/pact", import.meta.url).pathname, {
      args: ["watch", "--json", "--count", "3"],
      env: { ...env, HOME: home },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lines = watcher.stdout.pipeThrough(new TextDecoderStream()).getReader();
    // Commit until the watcher has printed its first event, so it is surely subscribed.
    let first = "";
    const reading = lines.read().then((r) => (first = r.value ?? ""));
    for (let i = 0; first === "" && i < 50; i++) {
      await runPact(["commit", "-m", `first ${i}`, "--node", "n1"], env);
      await Promise.race([reading, new Promise((r) => setTimeout(r, 200))]);
    }
    await reading;
    const firstSeq = JSON.parse(first.trim().split("\n")[0]!).sequence;
    await journal.stop();
    journal = await JournalProcess.start({ dataDir, grpcPort: port });
    assert.equal((await runPact(["commit", "-m", "after restart A", "--node", "n1"], env)).code, 0);
    assert.equal((await runPact(["commit", "-m", "after restart B", "--node", "n1"], env)).code, 0);
    let text = first;
    while (text.trim().split("\n").length < 3) {
      const chunk = await lines.read();
      if (chunk.done) break;
      text += chunk.value;
    }
    lines.releaseLock();
    const status = await watcher.status;
    const stderr = await new Response(watcher.stderr).text();
    assert.equal(status.code, 0, stderr);
    assert.match(stderr, /reconnecting in 1 s \(attempt 1, resuming at seq:\d+\)/);
    const seqs = text.trim().split("\n").map((l) => JSON.parse(l).sequence);
    assert.equal(seqs.length, 3);
    // Possibly more "first" commits landed before the restart; the watch shows them all in order.
    assert.deepEqual(seqs, [firstSeq, firstSeq + 1, firstSeq + 2]);
  } finally {
    await journal.stop();
    await Deno.remove(dataDir, { recursive: true });
    await Deno.remove(home, { recursive: true });
  }
});
