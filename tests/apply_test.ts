/**
 * `pact apply` end to end: the real CLI against a real pact-journal: help,
 * dry run, writing overlays and policies, line-numbered refusals that write
 * nothing, partial failures across vCluster sections, and how `pact watch`
 * and `pact log` show what was applied.
 */
import assert from "node:assert/strict";
import { type CliResult, runPact } from "./harness/cli_process.ts";
import { assertGolden, normalize } from "./harness/golden.ts";
import { JournalProcess } from "./harness/journal_process.ts";

const SPEC = `# Overlay and policy of the ML training vCluster.
[vcluster.ml-training]
base_image = "alps-ml-2026q1"

[vcluster.ml-training.sysctl]
"vm.nr_hugepages" = "1024"

[vcluster.ml-training.modules]
load = ["nvidia"]

[vcluster.ml-training.mounts."/local-scratch"]
type = "nfs"
source = "storage03:/scratch"
options = "vers=4.2"

[vcluster.ml-training.services.chronyd]
binary = "/usr/sbin/chronyd"
args = ["-d"]
restart = "always"
cgroup_memory_max = "64M"

[vcluster.ml-training.policy]
enforcement_mode = "enforce"
base_commit_window_seconds = 600
`;

const BAD_SPEC = `[vcluster.ml-training]
base_imag = "alps"

[vcluster.ml-training.sysctl]
vm.nr_hugepages = "1024"

[vcluster.ml-training.mounts]
"/scratch" = { type = "nfs", sorce = "storage03:/scratch" }

[vcluster.ml-training.services.chronyd]
restart = "sometimes"

[vcluster.ml-training.policy]
enforcement_mode = "strict"
`;

async function withSpecDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pact-test-apply-" });
  try {
    await Deno.writeTextFile(`${dir}/ml-training.toml`, SPEC);
    await Deno.writeTextFile(`${dir}/bad.toml`, BAD_SPEC);
    await Deno.writeTextFile(`${dir}/broken.toml`, `[vcluster.ml-training]\nbase_image = "x\n`);
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function withJournal(
  body: (journal: JournalProcess, env: Record<string, string>) => Promise<void>,
): Promise<void> {
  const journal = await JournalProcess.start();
  try {
    await body(journal, { PACT_ENDPOINT: journal.endpoint, PACT_TOKEN: await journal.token() });
  } finally {
    await journal.dispose();
  }
}

/** Replaces the temporary directory in paths with a stable placeholder. */
function stable(text: string, dir: string): string {
  return normalize(text).replaceAll(dir, "<DIR>");
}

function ok(result: CliResult, what: string): CliResult {
  assert.equal(result.code, 0, `${what}: ${result.stderr}`);
  return result;
}

async function entryCount(env: Record<string, string>): Promise<number> {
  return JSON.parse(ok(await runPact(["log", "--json"], env), "log").stdout).length;
}

Deno.test("pact apply --help matches its golden text", async () => {
  const result = ok(await runPact(["apply", "--help"]), "apply --help");
  await assertGolden("help-apply.txt", result.stdout);
});

Deno.test("pact apply --dry-run shows what would be written without a journal or token", async () => {
  await withSpecDir(async (dir) => {
    const text = ok(await runPact(["apply", `${dir}/ml-training.toml`, "--dry-run"]), "dry run");
    await assertGolden("apply-dry-run.txt", stable(text.stdout, dir));
    const json = ok(
      await runPact(["apply", `${dir}/ml-training.toml`, "--dry-run", "--json"]),
      "dry run --json",
    );
    const result = JSON.parse(json.stdout);
    assert.equal(result.dry_run, true);
    assert.equal(result.vclusters[0].changes, 5);
    assert.equal(result.vclusters[0].overlay_sequence, null);
    assert.deepEqual(result.vclusters[0].policy, {
      base_commit_window_seconds: 600,
      enforcement_mode: "enforce",
    });
  });
});

Deno.test("pact apply writes the overlay commit and the policy, and watch and log show them", async () => {
  await withSpecDir(async (dir) => {
    await withJournal(async (journal, env) => {
      const applied = ok(await runPact(["apply", `${dir}/ml-training.toml`], env), "apply");
      await assertGolden("apply.txt", stable(applied.stdout, dir));

      const watch = ok(await runPact(["watch", "--from", "0", "--count", "2"], env), "watch");
      await assertGolden("watch-apply.txt", normalize(watch.stdout, journal.endpoint));

      const entries = JSON.parse(
        ok(await runPact(["log", "--scope", "vc:ml-training", "--json"], env), "log").stdout,
      );
      assert.deepEqual(entries.map((e: { type: string }) => e.type), ["POLICY_UPDATE", "COMMIT"]);
      const declared = entries[1].payload.declared;
      assert.deepEqual(declared.sysctl, { "vm.nr_hugepages": "1024" });
      assert.equal(declared.mounts[0].spec.source, "storage03:/scratch");
      assert.equal(declared.services[0].restart_policy, "always");
      assert.equal(entries[0].payload.policy.enforcement_mode, "enforce");

      const json = ok(
        await runPact(["apply", `${dir}/ml-training.toml`, "--json", "-m", "again"], env),
        "apply --json",
      );
      const result = JSON.parse(json.stdout);
      assert.deepEqual(
        [result.vclusters[0].overlay_sequence, result.vclusters[0].policy_sequence],
        [2, 3],
      );
    });
  });
});

Deno.test("pact apply refuses a bad spec with one line-numbered problem per line and writes nothing", async () => {
  await withSpecDir(async (dir) => {
    await withJournal(async (_journal, env) => {
      const bad = await runPact(["apply", `${dir}/bad.toml`], env);
      assert.equal(bad.code, 1);
      assert.equal(bad.stdout, "");
      await assertGolden("apply-errors.txt", stable(bad.stderr, dir));

      const broken = await runPact(["apply", `${dir}/broken.toml`, "--json"], env);
      assert.equal(broken.code, 1);
      const error = JSON.parse(broken.stderr).error;
      assert.equal(error.code, "INVALID_ARGUMENT");
      assert.equal(error.exit_code, 1);
      assert.match(error.message, /broken\.toml:2: invalid TOML/);

      const missing = await runPact(["apply", `${dir}/missing.toml`], env);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /^pact: Cannot read .*missing\.toml: file not found\n$/);

      assert.equal(await entryCount(env), 0);
    });
  });
});

Deno.test("pact apply reports the vClusters it applied before one it may not write", async () => {
  await withSpecDir(async (dir) => {
    await withJournal(async (journal, env) => {
      await Deno.writeTextFile(
        `${dir}/two.toml`,
        `[vcluster.ml-training.sysctl]\n"vm.swappiness" = "10"\n\n[vcluster.hpc.sysctl]\n"vm.swappiness" = "60"\n`,
      );
      const ops = {
        ...env,
        PACT_TOKEN: await journal.token("pact-ops-ml-training", "ops@example.org"),
      };
      const result = await runPact(["apply", `${dir}/two.toml`], ops);
      assert.equal(result.code, 2);
      assert.match(
        result.stderr,
        /^pact: Applied to vcluster ml-training, then failed on vcluster hpc: Permission denied/,
      );
      assert.equal(await entryCount(env), 1);
    });
  });
});
