import assert from "node:assert/strict";
import { commandSucceeds } from "../../shared/testing/commands.ts";
import { isPactError } from "../../shared/errors/mod.ts";
import { parseServiceDecl } from "./service_spec.ts";
import { statusFromShow, type SystemctlResult, SystemdBackend } from "./systemd.ts";
import { quoteWord, renderUnit, sliceUnitName } from "./systemd_unit.ts";
import { decl } from "./testdata/decl.ts";

const services = [
  parseServiceDecl(decl({ name: "chronyd", binary: "/bin/sleep", args: ["1000"], order: 1 })),
  parseServiceDecl(decl({
    name: "nvidia-persistenced",
    binary: "/bin/sh",
    args: ["-c", 'echo "$HOME" 100%; exec sleep 1000'],
    order: 2,
    dependsOn: ["chronyd"],
    restartPolicy: "on_failure",
    restartDelaySeconds: 5,
    cgroupMemoryMax: "512M",
    cgroupCpuWeight: 300,
    cgroupSlice: "pact.slice/gpu.slice",
    env: { NV_MODE: "persist all" },
  })),
  parseServiceDecl(
    decl({
      name: "rasdaemon",
      binary: "/bin/sleep",
      args: ["1000"],
      order: 3,
      restartPolicy: "never",
    }),
  ),
];
const options = { stopGraceMs: 10_000 };

function section(unit: string, name: string): string[] {
  const start = unit.indexOf(`[${name}]\n`);
  const end = unit.indexOf("\n\n", start);
  return unit.slice(start, end).split("\n").slice(1);
}

Deno.test("renderUnit() maps limits, dependencies and the restart policy to directives", () => {
  const unit = renderUnit(services[1]!, services, options);
  assert.deepEqual(section(unit, "Unit"), [
    "Description=pact-managed: nvidia-persistenced",
    "After=network.target pact-chronyd.service",
    "Requires=pact-chronyd.service",
    "StartLimitIntervalSec=60",
    "StartLimitBurst=5",
  ]);
  assert.deepEqual(section(unit, "Service"), [
    "Type=simple",
    `ExecStart=/bin/sh -c "echo \\"$$HOME\\" 100%%; exec sleep 1000"`,
    `Environment="NV_MODE=persist all"`,
    "Restart=on-failure",
    "RestartSec=5",
    "TimeoutStopSec=10",
    "Slice=pact-gpu.slice",
    "MemoryMax=536870912",
    "CPUWeight=300",
  ]);
  assert.ok(unit.endsWith("[Install]\nWantedBy=multi-user.target\n"));
  const last = renderUnit(services[2]!, services, options);
  assert.match(
    last,
    /^After=network.target pact-chronyd.service pact-nvidia-persistenced.service$/m,
  );
  assert.match(last, /^Restart=no$/m);
  assert.doesNotMatch(last, /^Requires=|^MemoryMax=/m);
});

Deno.test("quoteWord() and sliceUnitName() follow systemd's syntax", () => {
  assert.equal(quoteWord("/usr/sbin/chronyd"), "/usr/sbin/chronyd");
  assert.equal(quoteWord("a b"), '"a b"');
  assert.equal(quoteWord(""), '""');
  assert.equal(quoteWord("back\\slash"), '"back\\\\slash"');
  assert.throws(() => quoteWord("two\nlines"), TypeError);
  assert.equal(sliceUnitName("pact.slice/infra.slice"), "pact-infra.slice");
  assert.equal(sliceUnitName("pact.slice"), "pact.slice");
});

const analyze = commandSucceeds("systemd-analyze", ["--version"]);
if (!analyze) {
  console.warn("systemd_test: systemd-analyze verify skipped: systemd-analyze is not installed");
}

Deno.test({
  name: "renderUnit() output passes systemd-analyze verify without warnings",
  ignore: !analyze,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "pact-units-" });
    try {
      // Only files are written and verified; nothing is started.
      const backend = new SystemdBackend(services, {
        ...options,
        unitDirectory: dir,
        run: () => Promise.resolve({ code: 0, stdout: "", stderr: "" }),
      });
      await backend.install();
      const files = services.map((s) => `${dir}/pact-${s.name}.service`);
      const output = await new Deno.Command("systemd-analyze", { args: ["verify", ...files] })
        .output();
      const stderr = new TextDecoder().decode(output.stderr);
      assert.equal(output.code, 0, stderr);
      assert.equal(stderr.trim(), "", "systemd-analyze printed warnings");
      // And a broken unit is caught, so the empty output above means something.
      await Deno.writeTextFile(
        `${dir}/pact-bad.service`,
        "[Service]\nExecStart=/bin/true\nRestart=sometimes\n",
      );
      const bad = await new Deno.Command("systemd-analyze", {
        args: ["verify", `${dir}/pact-bad.service`],
      }).output();
      assert.match(new TextDecoder().decode(bad.stderr), /restart specifier/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("SystemdBackend reloads, starts in order and stops in reverse order through systemctl", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pact-units-" });
  const calls: string[] = [];
  const run = (args: readonly string[]): Promise<SystemctlResult> => {
    calls.push(args.join(" "));
    return Promise.resolve({ code: 0, stdout: "", stderr: "" });
  };
  try {
    const backend = new SystemdBackend(services, { ...options, unitDirectory: dir, run });
    await backend.startAll();
    await backend.restart("rasdaemon");
    await backend.stopAll();
    assert.deepEqual(calls, [
      "daemon-reload",
      "start pact-chronyd.service",
      "start pact-nvidia-persistenced.service",
      "start pact-rasdaemon.service",
      "restart pact-rasdaemon.service",
      "stop pact-rasdaemon.service",
      "stop pact-nvidia-persistenced.service",
      "stop pact-chronyd.service",
    ]);
    await assert.rejects(backend.start("nope"), (err) => isPactError(err, "NOT_FOUND"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SystemdBackend reports a failing systemctl as one line", async () => {
  const backend = new SystemdBackend(services, {
    ...options,
    unitDirectory: "/nonexistent",
    run: () =>
      Promise.resolve({
        code: 5,
        stdout: "",
        stderr: "Unit pact-chronyd.service not found.\nmore\n",
      }),
  });
  await assert.rejects(
    backend.start("chronyd"),
    (err) =>
      isPactError(err, "INTERNAL") &&
      err.message ===
        "Cannot run systemctl start pact-chronyd.service: Unit pact-chronyd.service not found.",
  );
});

Deno.test("statusFromShow() reads systemctl show properties", () => {
  const running = statusFromShow(
    "chronyd",
    "ActiveState=active\nSubState=running\nMainPID=812\nNRestarts=2\nExecMainStatus=0\nResult=success\n",
  );
  assert.deepEqual(running, {
    name: "chronyd",
    state: "running",
    pid: 812,
    restartCount: 2,
    lastExitCode: 0,
    healthy: undefined,
    crashLoop: false,
  });
  const looping = statusFromShow(
    "x",
    "ActiveState=failed\nSubState=failed\nMainPID=0\nNRestarts=5\nExecMainStatus=1\nResult=start-limit-hit\n",
  );
  assert.equal(looping.state, "failed");
  assert.equal(looping.crashLoop, true);
  assert.equal(looping.pid, undefined);
  assert.equal(
    statusFromShow("y", "ActiveState=activating\nSubState=auto-restart\n").state,
    "restarting",
  );
});
