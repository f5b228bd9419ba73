/**
 * Phase 0 against a fake libc: the mount order, idempotence, /proc fatal and
 * the others not, the hostname rule, and the watchdog's open/pet/disarm.
 * The real mounts and a real pact-agent petting a watchdog as PID 1 are in
 * phase_zero_test.ts.
 */
import assert from "node:assert/strict";
import {
  EARLY_MOUNTS,
  EarlyMountError,
  mountedTargets,
  mountPseudoFilesystems,
  nodeIdFromCmdline,
} from "./early.ts";
import { type InitCalls, SysError, WDIOC_GETTIMEOUT, WDIOC_SETTIMEOUT } from "./init_calls.ts";
import { FALLBACK_TIMEOUT_SECONDS, HardwareWatchdog } from "./watchdog.ts";

interface Call {
  readonly name: string;
  readonly args: unknown[];
}

function fakeCalls(failing: (name: string, args: unknown[]) => boolean = () => false): {
  calls: InitCalls;
  log: Call[];
} {
  const log: Call[] = [];
  const record = (name: string, ...args: unknown[]) => {
    log.push({ name, args });
    if (failing(name, args)) throw new SysError(name, 1, "Operation not permitted");
  };
  return {
    log,
    calls: {
      mount: (source, target, fsType, flags, data) =>
        record("mount", source, target, fsType, flags, data),
      sethostname: (name) => record("sethostname", name),
      openWrite: (path) => (record("open", path), 7),
      write: (fd, bytes) => record("write", fd, new TextDecoder().decode(bytes)),
      ioctlInt: (
        fd,
        request,
        value,
      ) => (record("ioctl", fd, request, value), value === 0 ? 40 : value),
      close: (fd) => record("close", fd),
    },
  };
}

Deno.test("phase 0 mounts every missing pseudo-filesystem in the reference's order", async () => {
  const root = await Deno.makeTempDir({ prefix: "pact-early-" });
  try {
    const { calls, log } = fakeCalls();
    const outcomes = await mountPseudoFilesystems({
      calls,
      root,
      mountedTargets: () => Promise.resolve(new Set([`${root}/run`])),
      log: () => {},
    });
    assert.deepEqual(
      log.map((c) => c.args[1]),
      EARLY_MOUNTS.map((m) => `${root}${m.target}`).filter((t) => t !== `${root}/run`),
    );
    assert.deepEqual(log.map((c) => c.args[2]).slice(0, 3), ["proc", "sysfs", "devtmpfs"]);
    assert.equal(outcomes.find((o) => o.target === "/run")?.result, "already");
    assert.equal(outcomes.filter((o) => o.result === "mounted").length, EARLY_MOUNTS.length - 1);
    // The mount points were created.
    assert.ok((await Deno.stat(`${root}/dev/pts`)).isDirectory);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("phase 0: /proc that cannot be mounted stops the boot; any other mount only warns", async () => {
  const root = await Deno.makeTempDir({ prefix: "pact-early-" });
  try {
    const proc = fakeCalls((_, args) => args[2] === "proc");
    await assert.rejects(
      mountPseudoFilesystems({
        calls: proc.calls,
        root,
        mountedTargets: () => Promise.resolve(new Set()),
        log: () => {},
      }),
      (err: unknown) =>
        err instanceof EarlyMountError &&
        /cannot mount proc on \/proc: .*not permitted/.test(err.message),
    );
    assert.equal(proc.log.length, 1, "nothing is tried after /proc fails");

    const lines: string[] = [];
    const dev = fakeCalls((_, args) => args[2] === "devtmpfs");
    const outcomes = await mountPseudoFilesystems({
      calls: dev.calls,
      root,
      mountedTargets: () => Promise.resolve(new Set()),
      log: (line) => lines.push(line),
    });
    assert.equal(outcomes.find((o) => o.target === "/dev")?.result, "failed");
    assert.equal(outcomes.find((o) => o.target === "/dev/pts")?.result, "mounted");
    assert.ok(
      lines.some((l) => /WARN could not mount devtmpfs on \/dev/.test(l)),
      lines.join("\n"),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("mountedTargets decodes the octal escapes of /proc/self/mounts", async () => {
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(
      file,
      "proc /proc proc rw 0 0\ntmpfs /mnt/with\\040space tmpfs rw 0 0\n",
    );
    assert.deepEqual([...await mountedTargets(file)], ["/proc", "/mnt/with space"]);
    assert.deepEqual([...await mountedTargets(`${file}.missing`)], []);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("the node id comes from pact.nodeid= or pact.node_id= on the kernel command line", () => {
  assert.equal(
    nodeIdFromCmdline("BOOT_IMAGE=/vmlinuz quiet pact.nodeid=x1000c0s0b0n0 console=ttyS0\n"),
    "x1000c0s0b0n0",
  );
  assert.equal(nodeIdFromCmdline("pact.node_id=gpu-17 pact.journal=10.0.0.1:9443"), "gpu-17");
  assert.equal(nodeIdFromCmdline("root=/dev/sda1 quiet"), undefined);
});

Deno.test("the watchdog reads its timeout, pets at once and every T/2, and disarms with 'V'", async () => {
  const device = await Deno.makeTempFile();
  try {
    const { calls, log } = fakeCalls();
    const lines: string[] = [];
    const watchdog = await HardwareWatchdog.open({ calls, device, log: (l) => lines.push(l) });
    assert.ok(watchdog);
    assert.equal(watchdog.timeoutSeconds, 40);
    assert.deepEqual(log.find((c) => c.name === "ioctl")?.args, [7, WDIOC_GETTIMEOUT, 0]);
    assert.equal(watchdog.pets, 1, "petted when opened");
    watchdog.disarm();
    watchdog.pet(); // after disarm: nothing more is written
    const writes = log.filter((c) => c.name === "write").map((c) => c.args[1]);
    assert.deepEqual(writes, [".", "V"]);
    assert.equal(log.at(-1)?.name, "close");
    assert.ok(lines.some((l) => /armed, timeout 40 s, petted every 20 s/.test(l)));

    // A requested timeout is set; a short one pets on the interval.
    const fast = fakeCalls();
    const quick = await HardwareWatchdog.open({
      calls: fast.calls,
      device,
      timeoutSeconds: 2,
      log: () => {},
    });
    assert.deepEqual(fast.log.find((c) => c.name === "ioctl")?.args, [7, WDIOC_SETTIMEOUT, 2]);
    await new Promise((resolve) => setTimeout(resolve, 2_300));
    quick!.disarm();
    assert.ok(quick!.pets >= 3, `pets after 2.3 s with T=2: ${quick!.pets}`);
  } finally {
    await Deno.remove(device);
  }
});

Deno.test("no watchdog device, or one that cannot be opened, is not a failure", async () => {
  const { calls, log } = fakeCalls();
  assert.equal(
    await HardwareWatchdog.open({ calls, device: "/nonexistent/watchdog", log: () => {} }),
    undefined,
  );
  assert.equal(log.length, 0, "a missing device is not even opened");

  const device = await Deno.makeTempFile();
  try {
    const busy = fakeCalls((name) => name === "open");
    const lines: string[] = [];
    assert.equal(
      await HardwareWatchdog.open({ calls: busy.calls, device, log: (l) => lines.push(l) }),
      undefined,
    );
    assert.match(lines.join("\n"), /WARN watchdog .* not opened, running without it/);

    // A device whose timeout cannot be read still gets petted, at the fallback timeout.
    const noIoctl = fakeCalls((name) => name === "ioctl");
    const watchdog = await HardwareWatchdog.open({ calls: noIoctl.calls, device, log: () => {} });
    assert.equal(watchdog?.timeoutSeconds, FALLBACK_TIMEOUT_SECONDS);
    watchdog?.disarm();
  } finally {
    await Deno.remove(device);
  }
});
