import assert from "node:assert/strict";
import { isStateChanging } from "./classify.ts";
import {
  COMMAND_RUNNERS,
  DEFAULT_COMMANDS,
  isCommandName,
  isNeverAllowed,
  SHELL_ESCAPES,
  Whitelist,
} from "./whitelist.ts";

Deno.test("DEFAULT_COMMANDS has the reference's 38 commands, 6 of them state-changing", () => {
  assert.equal(DEFAULT_COMMANDS.length, 38);
  assert.equal(new Set(DEFAULT_COMMANDS.map((c) => c.command)).size, 38);
  assert.deepEqual(
    DEFAULT_COMMANDS.filter((c) => c.stateChanging).map((c) => c.command).sort(),
    ["ip", "modprobe", "mount", "sysctl", "systemctl", "umount"],
  );
  for (const c of DEFAULT_COMMANDS) assert.ok(c.description.length > 0, c.command);
});

Deno.test("no default command is a shell escape or command runner", () => {
  for (const c of DEFAULT_COMMANDS) assert.equal(isNeverAllowed(c.command), false, c.command);
  for (const name of [...SHELL_ESCAPES, ...COMMAND_RUNNERS]) assert.ok(isNeverAllowed(name), name);
  assert.equal(SHELL_ESCAPES.length, 19);
});

Deno.test("isNeverAllowed() also catches versioned interpreters and other shells", () => {
  for (
    const name of ["python3.12", "perl5.36", "ruby3.1", "lua5.4", "node18", "vim.basic", "ksh93"]
  ) {
    assert.ok(isNeverAllowed(name), name);
  }
  assert.ok(isNeverAllowed("mawk"));
  assert.ok(isNeverAllowed("bash5"));
  assert.equal(isNeverAllowed("ipmitool"), false);
  assert.equal(isNeverAllowed("lsof"), false);
});

Deno.test("Whitelist.of() adds a vCluster's commands as read-only and ignores shell escapes", () => {
  const list = Whitelist.of(["ipmitool", "sysctl", "bash", "vi", "../x", "lsof", "python3.11", ""]);
  assert.deepEqual(list.get("ipmitool"), {
    command: "ipmitool",
    stateChanging: false,
    description: "Added by the vCluster policy (exec_whitelist)",
  });
  assert.equal(list.get("sysctl")?.stateChanging, true, "a default keeps its classification");
  assert.equal(list.get("bash"), undefined);
  assert.equal(list.get("vi"), undefined);
  assert.deepEqual(list.ignored, ["bash", "vi", "../x", "python3.11", ""]);
  assert.equal(list.list().length, 40);
  assert.deepEqual(list.list().slice(0, 2).map((c) => c.command), ["cat", "df"]);
});

Deno.test("isCommandName() accepts plain names only", () => {
  for (const ok of ["ls", "nvidia-smi", "sha256sum", "x_y.z", "g++"]) {
    assert.ok(isCommandName(ok), ok);
  }
  for (const bad of ["", "-rf", ".hidden", "a/b", "a b", "a;b", "ls\n", "a$(b)", "é"]) {
    assert.equal(isCommandName(bad), false, JSON.stringify(bad));
  }
});

Deno.test("isStateChanging() flags whitelisted state-changing commands whatever their arguments", () => {
  assert.ok(isStateChanging("sysctl", ["-n", "kernel.ostype"], true));
  assert.ok(isStateChanging("mount", [], true));
});

Deno.test("isStateChanging() flags read-only commands given arguments that change the node", () => {
  const changing: [string, string[]][] = [
    ["hostname", ["newname"]],
    ["hostname", ["-F", "/etc/hostname"]],
    ["dmesg", ["-C"]],
    ["dmesg", ["--clear"]],
    ["dmesg", ["-n", "1"]],
    ["ethtool", ["-s", "eth0", "speed", "100"]],
    ["ethtool", ["--reset", "eth0"]],
    ["nvidia-smi", ["-r"]],
    ["nvidia-smi", ["--persistence-mode=1"]],
    ["nvidia-smi", ["mig", "-cgi", "9"]],
    ["rocm-smi", ["--setsclk", "3"]],
    ["ss", ["-K", "dst", "10.0.0.1"]],
    ["journalctl", ["--vacuum-size=1M"]],
    ["journalctl", ["--rotate"]],
    ["file", ["-C"]],
  ];
  for (const [command, args] of changing) {
    assert.ok(isStateChanging(command, args, false), `${command} ${args.join(" ")}`);
  }
  const reading: [string, string[]][] = [
    ["hostname", []],
    ["hostname", ["-f"]],
    ["dmesg", ["-T"]],
    ["ethtool", ["-S", "eth0"]],
    ["ethtool", ["eth0"]],
    ["nvidia-smi", ["-q", "-d", "ECC"]],
    ["rocm-smi", ["--showtemp"]],
    ["ss", ["-tlnp"]],
    ["journalctl", ["-u", "chronyd", "-n", "50"]],
    ["cat", ["/proc/cpuinfo"]],
  ];
  for (const [command, args] of reading) {
    assert.equal(isStateChanging(command, args, false), false, `${command} ${args.join(" ")}`);
  }
});

Deno.test("Whitelist.live() reads its additions on every lookup and reports changes", () => {
  let additions: readonly string[] = [];
  const changes: string[][] = [];
  const whitelist = Whitelist.live(() => additions, (w) => changes.push([...w.ignored]));
  assert.equal(whitelist.get("nproc"), undefined);
  additions = ["nproc", "bash"];
  assert.equal(whitelist.get("nproc")?.stateChanging, false);
  assert.equal(whitelist.get("bash"), undefined);
  assert.deepEqual(whitelist.ignored, ["bash"]);
  assert.ok(whitelist.list().some((c) => c.command === "nproc"));
  additions = ["nproc", "bash"].slice(); // Same contents: not a change.
  whitelist.get("ls");
  additions = [];
  assert.equal(whitelist.get("nproc"), undefined);
  assert.deepEqual(changes, [["bash"], []]);
});
