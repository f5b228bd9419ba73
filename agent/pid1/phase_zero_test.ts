/**
 * Phase 0 for real: the pseudo-filesystem mounts through libc inside
 * namespaces the test creates (never on this machine's own mounts), and the
 * real pact-agent as PID 1 petting a watchdog device (a FIFO the test reads:
 * pets every T/2, the magic 'V' on SIGTERM).
 */
import assert from "node:assert/strict";
import { commandSucceeds } from "../../shared/testing/commands.ts";
import { fileURLToPath as fromFileUrl } from "node:url";
import { JournalClient } from "../../cli/client/journal_client.ts";
import { DeclaredState } from "../../shared/proto/gen/pact/config/config.ts";
import { overlayUpdate } from "../../shared/testing/entries.ts";
import { JournalProcess } from "../../tests/harness/journal_process.ts";
import { removeSandboxNode, sandboxNode } from "../../tests/harness/boot_agent_process.ts";

const REPO = fromFileUrl(new URL("../../", import.meta.url));
const ENTRY = fromFileUrl(new URL("./testdata/early_entry.ts", import.meta.url));
const AGENT = fromFileUrl(new URL("../main.ts", import.meta.url));
const MOUNT_NS = [
  "--user",
  "--map-root-user",
  "--pid",
  "--fork",
  "--mount-proc",
  "--net",
  "--cgroup",
];
const PID_NS = ["--user", "--map-root-user", "--pid", "--fork", "--mount-proc"];

const mountNs = commandSucceeds("unshare", [...MOUNT_NS, "true"]);
const pidNs = commandSucceeds("unshare", [...PID_NS, "true"]);
if (!mountNs || !pidNs) {
  console.warn(
    "phase_zero_test: skipped parts: unprivileged user/pid/mount/net/cgroup namespaces unavailable",
  );
}

/** What the agent logged so far, without waiting for it to end. */
function cut(log: Promise<string>): Promise<string> {
  return Promise.race([
    log,
    new Promise<string>((resolve) => setTimeout(() => resolve("(still running)"), 100)),
  ]);
}

interface Outcome {
  target: string;
  result: string;
  detail?: string;
}

Deno.test({
  name:
    "phase 0 mounts proc, sysfs, tmpfs and cgroup2 for real, once (the second run finds them mounted)",
  ignore: !mountNs,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "pact-phase0-" });
    try {
      const out = await new Deno.Command("unshare", {
        args: [...MOUNT_NS, Deno.execPath(), "run", "-A", ENTRY, root],
        cwd: REPO,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, stderr);
      const report = JSON.parse(new TextDecoder().decode(out.stdout)) as {
        first: Outcome[];
        second: Outcome[];
        initComm: string;
        cgroupControllers: boolean;
        pid: number;
      };
      const first = new Map(report.first.map((o) => [o.target, o]));
      for (const target of ["/proc", "/sys", "/dev/shm", "/run", "/tmp", "/sys/fs/cgroup"]) {
        assert.equal(
          first.get(target)?.result,
          "mounted",
          `${target}: ${JSON.stringify(first.get(target))}`,
        );
      }
      // devtmpfs cannot be mounted in a user namespace: a warning, and the boot went on.
      assert.equal(first.get("/dev")?.result, "failed");
      assert.match(stderr, /WARN could not mount devtmpfs on \/dev/);
      // The mounted /proc is the new pid namespace's: its PID 1 is the entry (deno).
      assert.equal(report.pid, 1);
      assert.equal(report.initComm, "deno");
      assert.ok(report.cgroupControllers, "cgroup2 mounted at sys/fs/cgroup");
      // Idempotent: whatever the first run mounted, the second finds there.
      for (const outcome of report.second) {
        if (first.get(outcome.target)?.result === "mounted") {
          assert.equal(outcome.result, "already", outcome.target);
        }
      }
      // The mounts lived in the test's namespace only.
      assert.deepEqual([...Deno.readDirSync(`${root}/proc`)], []);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "pact-agent as PID 1 pets its watchdog every T/2 through the boot and disarms it with 'V' on SIGTERM",
  ignore: !pidNs,
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "pact-test-watchdog-" });
    const journal = await JournalProcess.start({ dataDir });
    const node = await sandboxNode("wd1", "ml", [journal.grpcAddress]);
    const fifo = `${dataDir}/watchdog`;
    await new Deno.Command("mkfifo", { args: [fifo] }).output();
    let child: Deno.ChildProcess | undefined;
    try {
      const admin = new JournalClient({
        endpoint: journal.endpoint,
        token: await journal.token(),
        timeoutSeconds: 10,
      });
      await admin.appendEntry({
        entry: overlayUpdate("ml", DeclaredState.encode(DeclaredState.fromPartial({})).finish()),
      });
      admin.close();
      child = new Deno.Command("unshare", {
        // /tmp and /run hold the test's files: bind them onto themselves so
        // that phase 0 finds them mounted (as on a node whose initramfs did),
        // instead of hiding them under fresh tmpfs. `exec` keeps the agent PID 1.
        args: [
          ...PID_NS,
          "sh",
          "-c",
          'mount --bind /tmp /tmp && mount --bind /run /run && exec "$@"',
          "sh",
          Deno.execPath(),
          "run",
          "-A",
          AGENT,
          "--config",
          node.configPath,
          "--watchdog",
          fifo,
          "--watchdog-timeout",
          "2",
        ],
        cwd: REPO,
        env: { PACT_AGENT_TOKEN: await journal.token("pact-service-agent", "agent-wd1", "agent") },
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const stderr = new Response(child.stderr).text();
      // The agent opens the FIFO for writing; this read end sees every byte it writes.
      const reader = await Deno.open(fifo, { read: true });
      const bytes: { at: number; byte: string }[] = [];
      const reading = (async () => {
        const buffer = new Uint8Array(64);
        for (;;) {
          const n = await reader.read(buffer);
          if (n === null) break;
          for (const b of buffer.subarray(0, n)) {
            bytes.push({ at: Date.now(), byte: String.fromCharCode(b) });
          }
        }
      })();
      const deadline = Date.now() + 30_000;
      while (bytes.filter((b) => b.byte === ".").length < 4 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const pets = bytes.filter((b) => b.byte === ".");
      assert.ok(pets.length >= 4, `pets seen: ${pets.length}; agent log:\n${await cut(stderr)}`);
      // Pets come about every second (T/2 = 1 s); none is more than T apart.
      for (let i = 1; i < pets.length; i++) {
        assert.ok(pets[i]!.at - pets[i - 1]!.at < 2_000, `gap ${pets[i]!.at - pets[i - 1]!.at} ms`);
      }
      // SIGTERM to the agent (PID 1 of the namespace): ordered stop, then the magic close.
      const unshare = child.pid;
      const initPid = Number(
        Deno.readTextFileSync(`/proc/${unshare}/task/${unshare}/children`).trim(),
      );
      Deno.kill(initPid, "SIGTERM");
      const status = await child.status;
      await reading;
      reader.close();
      const log = await stderr;
      assert.equal(status.code, 0, log);
      assert.equal(
        bytes.at(-1)?.byte,
        "V",
        `last byte written: ${JSON.stringify(bytes.slice(-3))}`,
      );
      assert.match(log, /watchdog .* armed, timeout 2 s/);
      assert.match(log, /watchdog disarmed/);
      child = undefined;
    } finally {
      if (child) {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
        await child.status;
      }
      await journal.dispose();
      await removeSandboxNode(node);
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
