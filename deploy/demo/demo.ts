/**
 * `deno task demo`: starts an embedded pact-journal in a temporary
 * directory, writes a development token, runs a short scripted session
 * (status, commit, log, watch) with the real CLI, and stops cleanly.
 */
import { JournalProcess } from "../../tests/harness/journal_process.ts";
import { BIN } from "../../tests/harness/paths.ts";

const bold = (text: string) => Deno.stdout.isTerminal() ? `\x1b[1m${text}\x1b[0m` : text;
const say = (text: string) => console.log(`\n${bold(`# ${text}`)}`);

/** Runs `pact <args>` as a user would, echoing the command line and its output. */
async function pact(env: Record<string, string>, ...args: string[]): Promise<void> {
  console.log(bold(`$ pact ${args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(" ")}`));
  const { code } = await new Deno.Command(`${BIN}/pact`, {
    args,
    env,
    stdout: "inherit",
    stderr: "inherit",
  })
    .output();
  if (code !== 0) throw new Error(`pact ${args[0]} exited with ${code}`);
}

async function main(): Promise<void> {
  say("Start a single-node journal on an embedded SQLite store");
  const journal = await JournalProcess.start();
  console.log(`pact-journal listening on ${journal.endpoint}, data in ${journal.dataDir}`);
  const home = await Deno.makeTempDir({ prefix: "pact-demo-home-" });
  try {
    say("Write a development token (HS256, dev/test sites only) to ~/.config/pact/token");
    const token = await journal.token("pact-platform-admin", "admin@example.org");
    await Deno.mkdir(`${home}/.config/pact`, { recursive: true });
    await Deno.writeTextFile(`${home}/.config/pact/token`, token, { mode: 0o600 });
    await Deno.writeTextFile(`${home}/.config/pact/cli.toml`, `endpoint = "${journal.endpoint}"\n`);
    const env = { HOME: home };
    console.log(`(${home}/.config/pact/cli.toml points the CLI at ${journal.endpoint})`);

    say("What does the journal know?");
    await pact(env, "status");

    say("An admin accepts changes made on two nodes (node-level commits)");
    await pact(env, "commit", "-m", "add hugepages for training", "--node", "node042");
    await pact(
      env,
      "commit",
      "-m",
      "mount /local-scratch for debugging",
      "--node",
      "node042",
      "--ttl",
      "86400",
    );
    await pact(env, "commit", "-m", "chrony drift fix", "--node", "node001");

    say("Node and fleet state");
    await pact(env, "status");
    await pact(env, "status", "node042");

    say("Configuration history, newest first");
    await pact(env, "log");

    say("Watch the journal live while another admin commits");
    console.log(bold("$ pact watch --count 1   (in the background)"));
    const watcher = new Deno.Command(`${BIN}/pact`, {
      args: ["watch", "--count", "1"],
      env,
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    await new Promise((r) => setTimeout(r, 1000));
    await pact(env, "commit", "-m", "restart nvidia-persistenced", "--node", "node001");
    const watched = await watcher.status;
    if (watched.code !== 0) throw new Error(`pact watch exited with ${watched.code}`);

    say("Machine-readable output for scripts");
    await pact(env, "log", "-n", "1", "--json");
  } finally {
    say("Stop the journal (SIGTERM: finish calls, save a snapshot)");
    const status = await journal.stop();
    console.log(
      status.code === 0
        ? "pact-journal stopped cleanly"
        : `pact-journal exited with ${status.code}`,
    );
    await Deno.remove(journal.dataDir, { recursive: true });
    await Deno.remove(home, { recursive: true });
  }
}

if (import.meta.main) {
  try {
    await main();
    console.log("\nDemo finished. Next: README.md explains each component and how to run it.");
  } catch (err) {
    console.error(`demo failed: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
