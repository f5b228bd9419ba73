/**
 * The agent's boot sequence as a real process against a real pact-journal:
 * an overlay (sysctl, files, two services with depends_on) is committed,
 * the agent boots a sandbox root, the effects land in the sandbox, the
 * services start in dependency order, the ready file appears, and
 * `pact status <node> --json` shows the journaled phases. Then: boot from
 * the cached config with the journal down (and the record journaled once it
 * is back), a first boot with neither (exit 5), and a stream whose checksum
 * does not match (refused, exit 1).
 */
import assert from "node:assert/strict";
import {
  type sendUnaryData,
  Server,
  ServerCredentials,
  type ServerWritableStream,
} from "@grpc/grpc-js";
import { JournalClient } from "../cli/client/journal_client.ts";
import { DeclaredState, ServiceDecl } from "../shared/proto/gen/pact/config/config.ts";
import {
  type BootConfigChunk,
  type BootConfigRequest,
  BootConfigServiceService,
} from "../shared/proto/gen/pact/stream/stream.ts";
import { overlayUpdate } from "../shared/testing/entries.ts";
import { compressOverlaySync } from "../journal/boot/overlay_codec.ts";
import { runPact } from "./harness/cli_process.ts";
import { JournalProcess } from "./harness/journal_process.ts";
import {
  BootAgentProcess,
  removeSandboxNode,
  type SandboxNode,
  sandboxNode,
} from "./harness/boot_agent_process.ts";

const encoder = new TextEncoder();

/** The overlay: two sysctls, two files, `web` depending on `db` (declared web first). */
function overlay(root: string): DeclaredState {
  const service = (name: string, dependsOn: string[]) =>
    ServiceDecl.fromPartial({
      name,
      binary: "/bin/sh",
      args: ["-c", `echo "$$" > ${root}/run/${name}.pid; exec sleep 600`],
      restartPolicy: "on_failure",
      dependsOn,
    });
  return DeclaredState.fromPartial({
    sysctl: { "vm.swappiness": "10", "kernel.pid_max": "65536" },
    files: [
      { path: "/etc/motd", content: encoder.encode("welcome to ml\n"), mode: "0644" },
      {
        path: "/etc/pact-test/limits.conf",
        content: encoder.encode("* hard nofile 65536\n"),
        mode: "0600",
      },
    ],
    services: [service("web", ["db"]), service("db", [])],
  });
}

async function agentToken(journal: JournalProcess, nodeId: string): Promise<string> {
  return await journal.token("pact-service-agent", `agent-${nodeId}`, "agent");
}

async function read(node: SandboxNode, path: string): Promise<string | undefined> {
  return await Deno.readTextFile(`${node.root}${path}`).catch(() => undefined);
}

async function statusJson(journal: JournalProcess, nodeId: string) {
  const result = await runPact(["status", nodeId, "--json"], {
    PACT_ENDPOINT: journal.endpoint,
    PACT_TOKEN: await journal.token(),
  });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

/** A loopback port nothing listens on. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test("boot: journal overlay applied in a sandbox, services in dependency order, ready, phases in pact status; then boot from cache while the journal is down", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "pact-test-agent-boot-" });
  let journal = await JournalProcess.start({ dataDir });
  const port = Number(journal.grpcAddress.split(":")[1]);
  const node = await sandboxNode("n1", "ml", [journal.grpcAddress]);
  try {
    const admin = new JournalClient({
      endpoint: journal.endpoint,
      token: await journal.token(),
      timeoutSeconds: 10,
    });
    const declared = overlay(node.root);
    await admin.appendEntry({
      entry: overlayUpdate("ml", DeclaredState.encode(declared).finish()),
    });
    admin.close();
    const env = { PACT_AGENT_TOKEN: await agentToken(journal, "n1") };
    const args = ["--config", node.configPath, "--ready-file", "/run/pact/ready"];

    const agent = BootAgentProcess.start(args, env);
    await agent.waitForLine(/boot: ready in \d+ ms/);
    assert.equal(await read(node, "/run/pact/ready"), "n1\n");
    assert.equal(await read(node, "/proc/sys/vm/swappiness"), "10\n");
    assert.equal(await read(node, "/proc/sys/kernel/pid_max"), "65536\n");
    assert.equal(await read(node, "/etc/motd"), "welcome to ml\n");
    assert.equal((await Deno.stat(`${node.root}/etc/pact-test/limits.conf`)).mode! & 0o777, 0o600);
    // db before web: depends_on, not declaration or name order.
    const starts = agent.log.split("\n").filter((l) => /^service: \w+ start/.test(l))
      .map((l) => l.split(" ")[1]);
    assert.deepEqual(starts, ["db", "web"]);
    assert.match(agent.log, /start_services .* 2 running \(pact backend\): db → web/);
    assert.match(agent.log, /identity .* skipped: no enrollment configured/);
    const capability = JSON.parse((await read(node, "/run/pact/capability.json"))!);
    // The sandbox has no proc/cpuinfo: the report says so rather than show this machine's CPUs.
    assert.equal(capability.node_id, "n1");
    assert.equal(capability.schema_version, 1);
    assert.equal(capability.cpu.architecture, "unknown");
    assert.deepEqual(capability.supervisor_status, {
      backend: "pact",
      declared: 2,
      running: 2,
      failed: 0,
    });
    // Both services really run: each wrote its pid and that process is alive.
    for (const name of ["db", "web"]) {
      const pid = Number(await read(node, `/run/${name}.pid`));
      assert.ok(pid > 0, `${name} wrote its pid`);
      Deno.kill(pid, "SIGCONT"); // throws if the process does not exist
    }
    const recorded = await agent.waitForLine(/boot record journaled as seq:\d+/);
    assert.match(recorded, /seq:\d+/);

    const status = await statusJson(journal, "n1");
    const boot = status.last_boot;
    assert.equal(boot.from_cache, false);
    assert.deepEqual(
      boot.phases.map((p: { name: string }) => p.name),
      [
        "load_config",
        "identity",
        "pull_config",
        "apply_config",
        "start_services",
        "capability",
        "ready",
      ],
    );
    assert.ok(boot.phases.every((p: { ok: boolean }) => p.ok));
    assert.ok(boot.total_ms > 0 && boot.total_ms < 20_000, `total ${boot.total_ms} ms`);
    const human = await runPact(["status", "n1"], {
      PACT_ENDPOINT: journal.endpoint,
      PACT_TOKEN: await journal.token(),
    });
    assert.match(human.stdout, /Last boot:\s+ready in \d+ ms, config from the journal/);
    assert.match(human.stdout, /start_services\s+\d+\s+ok\s+2 running/);

    assert.equal((await agent.stop()).code, 0);
    assert.match(agent.log, /stopping services/);
    assert.match(agent.log, /service: web stop[\s\S]*service: db stop/, "reverse order on stop");

    // Journal down, sandbox wiped of what boot wrote: the cache brings it back.
    await journal.stop();
    await Deno.remove(`${node.root}/etc/motd`);
    await Deno.remove(`${node.root}/run/pact/ready`);
    const cached = BootAgentProcess.start([...args, "--journal-wait-ms", "800"], env);
    await cached.waitForLine(/boot: ready in \d+ ms \(config from cache /);
    assert.match(cached.log, /pull_config .* FROM CACHE \(no journal reachable within 800 ms\)/);
    assert.equal(await read(node, "/etc/motd"), "welcome to ml\n");
    assert.equal(await read(node, "/run/pact/ready"), "n1\n");
    // The journal comes back on its port: the pending boot record reaches it.
    journal = await JournalProcess.start({ dataDir, grpcPort: port });
    await cached.waitForLine(/boot record journaled as seq:\d+/, 30_000);
    assert.equal((await statusJson(journal, "n1")).last_boot.from_cache, true);
    assert.equal((await cached.stop()).code, 0);
  } finally {
    await journal.stop();
    await removeSandboxNode(node);
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("boot: first boot with no journal and no cached config fails with exit 5 and says why", async () => {
  const node = await sandboxNode("n2", "ml", [`127.0.0.1:${closedPort()}`]);
  try {
    const agent = BootAgentProcess.start(
      ["--config", node.configPath, "--journal-wait-ms", "500"],
      { PACT_AGENT_TOKEN: "unused-token" },
    );
    const status = await agent.finished();
    assert.equal(status.code, 5, agent.log);
    const last = agent.log.trim().split("\n").at(-1)!;
    assert.match(
      last,
      /^pact-agent: Boot failed in phase pull_config: Cannot boot: No journal reachable within 500 ms .*connection refused.*; and no cached config at \/var\/lib\/pact\/boot-config.json \(first boot\)$/,
    );
    assert.equal(await read(node, "/run/pact/ready"), undefined, "no readiness on failure");
  } finally {
    await removeSandboxNode(node);
  }
});

Deno.test("boot: an overlay whose checksum does not match is refused, nothing applied (exit 1)", async () => {
  // A BootConfigService that sends a real overlay under a wrong checksum.
  const compressed = compressOverlaySync(
    DeclaredState.fromPartial({ sysctl: { "vm.swappiness": "99" } }),
  );
  const server = new Server();
  server.addService(BootConfigServiceService, {
    streamBootConfig(call: ServerWritableStream<BootConfigRequest, BootConfigChunk>) {
      call.write({
        chunk: {
          $case: "overlay",
          value: {
            version: 3,
            vclusterId: "ml",
            data: compressed.data,
            chunkIndex: 0,
            totalChunks: 1,
            checksum: "0".repeat(64),
            encoding: "zstd",
            contentChecksum: compressed.contentChecksum,
            contentBytes: compressed.contentBytes,
          },
        },
      });
      call.write({
        chunk: {
          $case: "complete",
          value: {
            baseVersion: 3,
            nodeVersion: 0,
            timestamp: new Date(),
            policy: undefined,
            configVersion: 3,
            vclusterId: "ml",
            unchanged: false,
          },
        },
      });
      call.end();
    },
    subscribeConfigUpdates(_call: unknown, _cb?: sendUnaryData<unknown>) {},
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      "127.0.0.1:0",
      ServerCredentials.createInsecure(),
      (err, p) => err ? reject(err) : resolve(p),
    )
  );
  const node = await sandboxNode("n3", "ml", [`127.0.0.1:${port}`]);
  try {
    const agent = BootAgentProcess.start(["--config", node.configPath], { PACT_AGENT_TOKEN: "t" });
    const status = await agent.finished();
    assert.equal(status.code, 1, agent.log);
    assert.match(
      agent.log,
      /Boot failed in phase pull_config: Refused boot config from 127\.0\.0\.1:\d+: overlay checksum mismatch: expected 000000000000, got [0-9a-f]{12}/,
    );
    assert.equal(await read(node, "/proc/sys/vm/swappiness"), "60\n", "nothing applied");
    assert.equal(await read(node, "/var/lib/pact/boot-config.json"), undefined, "nothing cached");
    assert.equal(await read(node, "/run/pact/ready"), undefined);
  } finally {
    server.forceShutdown();
    await removeSandboxNode(node);
  }
});
