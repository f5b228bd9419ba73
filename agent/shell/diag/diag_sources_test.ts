import assert from "node:assert/strict";
import { writeSandbox } from "../../host/sandbox_host.ts";
import type { CommandRunner } from "../../host/command_runner.ts";
import { FILE_TAIL_BYTES_MAX, hostDiagSources, parseKmsg } from "./diag_sources.ts";

Deno.test("parseKmsg() prints records as dmesg does and drops continuation lines", () => {
  assert.deepEqual(
    parseKmsg([
      "6,1,5678901,-;usb 1-1: new device",
      " SUBSYSTEM=usb",
      "3,2,12000000,-;tab\\x09here \\x01",
      "not a record",
    ]),
    ["[    5.678901] usb 1-1: new device", "[   12.000000] tab\\x09here \\x01", "not a record"],
  );
});

Deno.test("hostDiagSources() reads kmsg and syslog under the sandbox root and never runs a command", async () => {
  const root = await Deno.makeTempDir({ prefix: "pact-diag-sources-" });
  try {
    const ran: string[] = [];
    const run: CommandRunner = (command) => {
      ran.push(command);
      return Promise.resolve({ code: 0, stdout: "", stderr: "", missing: false });
    };
    const sources = (withRunner: boolean) =>
      hostDiagSources({
        root,
        backend: "pact",
        serviceNames: () => Promise.resolve([]),
        logsOf: undefined,
        run: withRunner ? run : undefined,
      });
    // Nothing there: no source, no command without a runner.
    assert.equal(await sources(false).dmesg(10), undefined);
    assert.equal(await sources(false).syslog(10), undefined);
    await writeSandbox(root, {
      files: {
        "/dev/kmsg": "6,1,1000000,-;one\n6,2,2000000,-;two\n6,3,3000000,-;three\n",
        "/var/log/messages": "m1\nm2\n",
      },
    });
    assert.deepEqual(await sources(true).dmesg(2), {
      lines: ["[    2.000000] two", "[    3.000000] three"],
      cut: true,
    });
    assert.deepEqual(await sources(true).syslog(10), {
      lines: ["m1", "m2"],
      cut: false,
      label: "syslog",
    });
    assert.deepEqual(ran, []);
    // A big file is read from its end only.
    const line = "x".repeat(99) + "\n";
    await writeSandbox(root, {
      files: { "/var/log/syslog": line.repeat(FILE_TAIL_BYTES_MAX / 100 + 10) + "last\n" },
    });
    const big = (await sources(false).syslog(100_000))!;
    assert.equal(big.cut, true);
    assert.equal(big.lines.at(-1), "last");
    assert.ok(big.lines.length <= FILE_TAIL_BYTES_MAX / 100 + 1);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("hostDiagSources() on a real host runs dmesg when /dev/kmsg is no plain file; a timeout gives an empty truncated source", async () => {
  const root = await Deno.makeTempDir({ prefix: "pact-diag-dmesg-" });
  try {
    let code = 0;
    const run: CommandRunner = (command) =>
      Promise.resolve({
        code,
        stdout: command === "dmesg" ? "a\nb\nc\n" : "",
        stderr: "",
        missing: false,
      });
    const sources = hostDiagSources({
      root,
      backend: "pact",
      serviceNames: () => Promise.resolve([]),
      logsOf: undefined,
      run,
    });
    assert.deepEqual(await sources.dmesg(2), { lines: ["b", "c"], cut: true });
    code = 124;
    assert.deepEqual(await sources.dmesg(2), { lines: [], cut: true });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("hostDiagSources() with systemd reads syslog and services through journalctl", async () => {
  const root = await Deno.makeTempDir({ prefix: "pact-diag-systemd-" });
  try {
    const calls: string[][] = [];
    const run: CommandRunner = (command, args) => {
      calls.push([command, ...args]);
      return Promise.resolve({ code: 0, stdout: "j1\nj2\nj3\n", stderr: "", missing: false });
    };
    const sources = hostDiagSources({
      root,
      backend: "systemd",
      serviceNames: () => Promise.resolve(["chronyd"]),
      logsOf: undefined,
      run,
    });
    assert.deepEqual(await sources.syslog(2), { lines: ["j2", "j3"], cut: true, label: "journal" });
    assert.deepEqual(await sources.serviceLog("chronyd", 5), {
      lines: ["j1", "j2", "j3"],
      cut: false,
    });
    assert.deepEqual(calls, [
      ["journalctl", "--no-pager", "-q", "-n", "3"],
      ["journalctl", "--no-pager", "-q", "-n", "6", "-u", "pact-chronyd.service"],
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
