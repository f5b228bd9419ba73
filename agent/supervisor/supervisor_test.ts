import assert from "node:assert/strict";
import { isPactError } from "../../shared/errors/mod.ts";
import { CgroupV2 } from "./cgroup.ts";
import { DenoSpawner } from "./process.ts";
import { DEFAULT_RESTART_LIMITS } from "./restart_decision.ts";
import type { ServiceSpec } from "./service_spec.ts";
import { PactSupervisor, type SupervisorOptions } from "./supervisor.ts";
import { shService } from "./testdata/decl.ts";
import { EventLog } from "./testdata/event_log.ts";
import { ManualTimers, realTimers } from "./timers.ts";

// Every test runs real processes (/bin/sh) in a temporary directory.
async function withSupervisor(
  services: ServiceSpec[],
  options: Partial<SupervisorOptions>,
  fn: (supervisor: PactSupervisor, events: EventLog, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pact-supervisor-" });
  const events = new EventLog();
  const supervisor = new PactSupervisor(services, {
    spawner: new DenoSpawner(),
    timers: realTimers,
    logDirectory: dir,
    onEvent: events.sink,
    stopGraceMs: 5000,
    ...options,
  });
  try {
    await fn(supervisor, events, dir);
  } finally {
    if (options.timers instanceof ManualTimers) {
      const timers = options.timers;
      const stopping = supervisor.stopAll();
      // Let SIGKILL escalation fire for anything that ignores SIGTERM.
      const tick = setInterval(() => timers.advance(1000), 50);
      await stopping.finally(() => clearInterval(tick));
    } else {
      await supervisor.stopAll();
    }
    await Deno.remove(dir, { recursive: true });
  }
}

/** A long-running service that notes in `file` when it receives SIGTERM. */
function sleeper(name: string, file: string, fields: Parameters<typeof shService>[2] = {}) {
  return shService(
    name,
    `trap 'echo ${name} >> ${file}; exit 0' TERM; echo ${name} up; while :; do sleep 0.05; done`,
    fields,
  );
}

Deno.test("PactSupervisor starts in dependency order and stops in reverse order", async () => {
  const dir = await Deno.makeTempDir();
  const marks = `${dir}/terms`;
  const services = [
    sleeper("lattice", marks, { order: 1, dependsOn: ["nvidia", "chronyd"] }),
    sleeper("nvidia", marks, { order: 5, dependsOn: ["chronyd"] }),
    sleeper("chronyd", marks, { order: 9 }),
    sleeper("rasdaemon", marks, { order: 2 }),
  ];
  await withSupervisor(services, {}, async (supervisor, events) => {
    await supervisor.startAll();
    assert.deepEqual(supervisor.startOrder, ["rasdaemon", "chronyd", "nvidia", "lattice"]);
    assert.deepEqual(events.trace(), [
      "rasdaemon:start",
      "chronyd:start",
      "nvidia:start",
      "lattice:start",
    ]);
    const running = await supervisor.status();
    assert.ok(running.every((s) => s.state === "running" && s.pid !== undefined));
    // Each shell prints "up" after its TERM trap is set; a SIGTERM before that
    // (a loaded machine) would end it without writing its mark.
    for (const { name } of running) {
      for (let i = 0; i < 500; i++) {
        if ((await supervisor.logs(name).tail(1)).includes(`${name} up`)) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    await supervisor.stopAll();
    assert.deepEqual(events.trace().slice(4), [
      "lattice:stop",
      "nvidia:stop",
      "chronyd:stop",
      "rasdaemon:stop",
    ]);
    // Each process received SIGTERM only after the one before it had exited.
    assert.equal(await Deno.readTextFile(marks), "lattice\nnvidia\nchronyd\nrasdaemon\n");
    assert.ok((await supervisor.status()).every((s) => s.state === "stopped"));
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("PactSupervisor on_failure leaves a clean exit stopped and never leaves a failure stopped", async () => {
  const timers = new ManualTimers();
  const services = [
    shService("clean", "exit 0", { restartPolicy: "on_failure" }),
    shService("broken", "exit 4", { restartPolicy: "never" }),
  ];
  await withSupervisor(services, { timers }, async (supervisor, events) => {
    await supervisor.startAll();
    await events.waitFor({ service: "clean", action: "stop" });
    const crash = await events.waitFor({ service: "broken", action: "crash" });
    assert.equal(crash.exitCode, 4);
    assert.equal(crash.detail, "exited with code 4");
    assert.deepEqual(timers.pendingDelaysMs(), [], "no restart scheduled");
    const status = await supervisor.status();
    assert.deepEqual(status.map((s) => [s.name, s.state, s.lastExitCode]), [[
      "broken",
      "stopped",
      4,
    ], ["clean", "stopped", 0]]);
  });
});

Deno.test("PactSupervisor always restarts even after a clean exit", async () => {
  const timers = new ManualTimers();
  await withSupervisor(
    [shService("oneshot", "exit 0", { restartPolicy: "always", restartDelaySeconds: 2 })],
    { timers },
    async (supervisor, events) => {
      await supervisor.start("oneshot");
      await events.waitFor({ action: "stop" });
      assert.deepEqual(timers.pendingDelaysMs(), [2000]);
      assert.equal((await supervisor.status())[0]!.state, "restarting");
      timers.advance(2000);
      const restart = await events.waitFor({ action: "restart" });
      assert.equal(restart.restartCount, 1);
    },
  );
});

Deno.test("PactSupervisor backs off exponentially and reports a crash loop", async () => {
  const timers = new ManualTimers();
  const restartLimits = { ...DEFAULT_RESTART_LIMITS, crashLoopExitsMax: 4 };
  const service = shService("flaky", "echo trying; exit 1", {
    restartPolicy: "on_failure",
    restartDelaySeconds: 1,
  });
  await withSupervisor([service], { timers, restartLimits }, async (supervisor, events) => {
    await supervisor.start("flaky");
    for (const [crash, delayMs] of [[1, 1000], [2, 2000], [3, 4000]] as const) {
      await events.waitFor({ action: "crash" }, crash);
      assert.deepEqual(timers.pendingDelaysMs(), [delayMs], `delay after crash ${crash}`);
      timers.advance(delayMs - 1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(events.matching({ action: "restart" }).length, crash - 1, "not restarted early");
      timers.advance(1);
      await events.waitFor({ action: "restart" }, crash);
    }
    const loop = await events.waitFor({ action: "crash_loop" });
    assert.match(loop.detail, /^4 exits within 60 s; not restarting/);
    assert.equal(loop.restartCount, 3);
    assert.deepEqual(timers.pendingDelaysMs(), []);
    const [status] = await supervisor.status();
    assert.equal(status!.state, "failed");
    assert.equal(status!.crashLoop, true);
    // Starting it by hand clears the loop.
    await supervisor.start("flaky");
    await events.waitFor({ action: "crash" }, 5);
    assert.deepEqual(timers.pendingDelaysMs(), [1000]);
  });
});

Deno.test("PactSupervisor restarts a service whose http health check keeps failing", async () => {
  let status = 503;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(null, { status }),
  );
  const timers = new ManualTimers();
  const service = shService("web", "exec sleep 30", {
    restartPolicy: "on_failure",
    healthCheck: {
      type: "http",
      url: `http://127.0.0.1:${server.addr.port}/`,
      port: 0,
      intervalSeconds: 1,
      timeoutSeconds: 1,
    },
  });
  try {
    await withSupervisor(
      [service],
      { timers, healthFailuresMax: 2, stopGraceMs: 30_000 },
      async (supervisor, events) => {
        await supervisor.start("web");
        const firstPid = (await supervisor.status())[0]!.pid;
        timers.advance(1000);
        const unhealthy = await events.waitFor({ action: "unhealthy" });
        assert.match(unhealthy.detail, /503/);
        assert.equal(events.matching({ action: "crash" }).length, 0, "one failure is not enough");
        timers.advance(1000);
        const crash = await events.waitFor({ action: "crash" });
        assert.equal(crash.detail, "killed as unhealthy (killed by SIGTERM)");
        timers.advance(1000);
        await events.waitFor({ action: "restart" });
        const after = (await supervisor.status())[0]!;
        assert.notEqual(after.pid, firstPid);
        assert.equal(after.restartCount, 1);
        status = 200;
        timers.advance(1000);
        await events.waitFor({ action: "healthy" });
        assert.equal((await supervisor.status())[0]!.healthy, true);
      },
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("PactSupervisor sends SIGKILL when SIGTERM is ignored past the grace period", async () => {
  const timers = new ManualTimers();
  const stubborn = shService("stubborn", "trap '' TERM; echo ready; while :; do sleep 0.05; done");
  await withSupervisor([stubborn], { timers, stopGraceMs: 10_000 }, async (supervisor, events) => {
    await supervisor.start("stubborn");
    // The trap must be in place before SIGTERM arrives.
    while (!(await supervisor.logs("stubborn").tail(1)).includes("ready")) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    let stopped = false;
    const stopping = supervisor.stop("stubborn").then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(stopped, false, "still running: SIGTERM is trapped");
    assert.deepEqual(timers.pendingDelaysMs(), [10_000]);
    timers.advance(10_000);
    await stopping;
    assert.equal((await events.waitFor({ action: "stop" })).detail, "stopped (killed by SIGKILL)");
  });
});

Deno.test("PactSupervisor captures stdout and stderr into bounded logs", async () => {
  const script = "i=0; while [ $i -lt 300 ]; do echo out $i; echo err $i >&2; i=$((i+1)); done";
  const services = [
    shService("talker", script, { restartPolicy: "never" }),
    shService("greeter", "echo hello from stdout; echo hello from stderr >&2", {
      restartPolicy: "never",
    }),
  ];
  await withSupervisor(
    services,
    { logLimits: { fileBytesMax: 512, files: 3 } },
    async (supervisor, events, dir) => {
      await supervisor.startAll();
      await events.waitFor({ service: "talker", action: "stop" });
      await events.waitFor({ service: "greeter", action: "stop" });
      assert.deepEqual((await supervisor.logs("greeter").tail(10)).sort(), [
        "hello from stderr",
        "hello from stdout",
      ]);
      const tail = await supervisor.logs("talker").tail(1000);
      assert.ok(tail.includes("out 299") || tail.includes("err 299"), tail.slice(-4).join("|"));
      assert.ok(
        !tail.includes("out 0") && !tail.includes("err 0"),
        "the oldest output was rotated away",
      );
      let bytes = 0;
      for await (const entry of Deno.readDir(dir)) {
        if (entry.name.startsWith("talker.log")) {
          bytes += (await Deno.stat(`${dir}/${entry.name}`)).size;
        }
      }
      assert.ok(bytes > 1000 && bytes <= 3 * 512, `${bytes} bytes of logs`);
    },
  );
});

Deno.test("PactSupervisor puts each process in its own cgroup scope and removes it after exit", async () => {
  const root = await Deno.makeTempDir({ prefix: "pact-cgroup-" });
  const service = shService("gpu-daemon", "exec sleep 30", {
    cgroupSlice: "pact.slice/gpu.slice",
    cgroupMemoryMax: "256M",
    cgroupCpuWeight: 500,
  });
  await withSupervisor([service], { cgroups: new CgroupV2(root) }, async (supervisor) => {
    await supervisor.start("gpu-daemon");
    const scope = `${root}/pact.slice/gpu.slice/gpu-daemon.scope`;
    const pid = (await supervisor.status())[0]!.pid;
    assert.equal(await Deno.readTextFile(`${scope}/cgroup.procs`), `${pid}\n`);
    assert.equal(await Deno.readTextFile(`${scope}/memory.max`), `${256 * 1024 * 1024}\n`);
    assert.equal(await Deno.readTextFile(`${scope}/cpu.weight`), "500\n");
    await supervisor.stop("gpu-daemon");
    await assert.rejects(Deno.stat(scope), Deno.errors.NotFound);
  });
  await Deno.remove(root, { recursive: true });
});

Deno.test("PactSupervisor reports a binary that cannot start as a crash with exit code 127", async () => {
  const service = {
    ...shService("ghost", ""),
    binary: "/nonexistent/ghostd",
    restartPolicy: "never" as const,
  };
  await withSupervisor([service], {}, async (supervisor, events) => {
    await supervisor.start("ghost");
    const crash = await events.waitFor({ action: "crash" });
    assert.equal(crash.exitCode, 127);
    assert.match(crash.detail, /^cannot start: /);
    assert.match((await supervisor.logs("ghost").tail(1))[0]!, /^pact: cannot start ghost: /);
  });
});

Deno.test("PactSupervisor refuses to start a service whose dependency is not running", async () => {
  const timers = new ManualTimers();
  const services = [
    shService("db", "exec sleep 30"),
    shService("app", "exec sleep 30", { dependsOn: ["db"] }),
  ];
  await withSupervisor(services, { timers }, async (supervisor) => {
    await assert.rejects(
      supervisor.start("app"),
      (err) =>
        isPactError(err, "CONFLICT") &&
        err.message === "Cannot start app: dependency db is stopped",
    );
    await assert.rejects(supervisor.start("nope"), (err) => isPactError(err, "NOT_FOUND"));
  });
});

Deno.test({
  name: "PactSupervisor handles an exit at once even when an orphan keeps its output pipe open",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const service = shService("forker", "sleep 3 & echo forked; exit 3", {
      restartPolicy: "never",
    });
    await withSupervisor([service], {}, async (supervisor, events) => {
      const started = Date.now();
      await supervisor.start("forker");
      const crash = await events.waitFor({ action: "crash" }, 1, 2500);
      assert.equal(crash.exitCode, 3);
      assert.ok(Date.now() - started < 2500, "not held until the orphan closes the pipe");
      assert.deepEqual(await supervisor.logs("forker").tail(1), ["forked"]);
    });
  },
});
