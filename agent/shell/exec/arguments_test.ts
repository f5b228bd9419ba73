import assert from "node:assert/strict";
import { isPactError } from "../../../shared/errors/mod.ts";
import { checkArguments, normalize, pathsIn, type RealPath, spellings } from "./arguments.ts";

const noLinks: RealPath = () => undefined;

function refused(command: string, args: string[], pattern: RegExp, realPath = noLinks): void {
  assert.throws(
    () => checkArguments(command, args, realPath),
    (err) => isPactError(err, "NOT_WHITELISTED") && pattern.test(err.message),
    `${command} ${JSON.stringify(args)}`,
  );
}

Deno.test("checkArguments() passes ordinary diagnostics", () => {
  const ok: [string, string[]][] = [
    ["nvidia-smi", ["-q", "-d", "ECC"]],
    ["grep", ["root", "/etc/passwd"]],
    ["grep", ["-i", "error", "/var/log/syslog"]],
    ["grep", ["-r", "oom", "/var/log"]],
    ["cat", ["/proc/meminfo"]],
    ["ls", ["-la", "/etc/pact"]],
    ["tail", ["-n", "50", "/var/log/messages"]],
    ["journalctl", ["-u", "chronyd", "--since=-1h"]],
    ["echo", ["a > b", "x<y", "100%"]],
    ["ip", ["netns", "list"]],
    ["ip", ["addr", "show", "dev", "eth0"]],
    ["sysctl", ["-n", "kernel.ostype"]],
    ["diff", ["/etc/hosts", "/etc/hosts.bak"]],
  ];
  for (const [command, args] of ok) checkArguments(command, args, noLinks);
});

Deno.test("checkArguments() refuses shell metacharacters, also percent-encoded", () => {
  for (const arg of ["a;b", "a|b", "a&b", "`id`", "$(id)", "${HOME}", "a\nb", "a\rb", "a\0b"]) {
    refused("echo", [arg], /contains/);
  }
  refused("echo", ["%3Bid"], /contains ";"/);
  refused("echo", ["%2524(id)"], /contains "\$\("/);
});

Deno.test("checkArguments() refuses .. segments in every spelling", () => {
  for (
    const arg of [
      "../etc/passwd",
      "/var/log/../../etc/passwd",
      "--file=../x",
      "%2e%2e/etc",
      "%252e%252e/x",
      "..",
    ]
  ) {
    refused("cat", [arg], /"\.\." path segment/);
  }
  checkArguments("echo", ["a..b", "...", "v1..v2"], noLinks);
});

Deno.test("checkArguments() refuses the reference's sensitive paths in every spelling", () => {
  const cases: [string, RegExp][] = [
    ["/etc/shadow", /\/etc\/shadow/],
    ["/etc/shadow-", /\/etc\/shadow/],
    ["/etc/gshadow", /gshadow/],
    ["/etc/master.passwd", /master\.passwd/],
    ["/root", /\/root\//],
    ["/root/.bashrc", /\/root\//],
    ["/home/alice/.ssh/id_ed25519", /\/\.ssh\//],
    ["/home/alice/.ssh", /\/\.ssh\//],
    ["/etc/ssl/private/key.pem", /ssl\/private/],
    ["/etc/pact/ca/ca.key", /\/etc\/pact\/ca\//],
    ["/run/pact/ca/ca.key", /\/run\/pact\/ca\//],
    ["//etc//shadow", /\/etc\/shadow/],
    ["/etc/./shadow", /\/etc\/shadow/],
    ["%2Fetc%2Fshadow", /\/etc\/shadow/],
    ["%252Fetc%252Fshadow", /\/etc\/shadow/],
    ["--file=/etc/shadow", /\/etc\/shadow/],
    ["-f/etc/shadow", /\/etc\/shadow/],
    ["/proc/1/root/etc/shadow", /\/etc\/shadow|\/root\//],
    ["/proc/self/root/root/x", /\/root\//],
  ];
  for (const [arg, pattern] of cases) refused("cat", [arg], pattern);
});

Deno.test("checkArguments() refuses the agent's own secrets and process memory and environments", () => {
  const cases: [string, RegExp][] = [
    ["/var/lib/pact/certs/node.key", /\/var\/lib\/pact\//],
    ["/var/lib/pact", /\/var\/lib\/pact\//],
    ["/proc/1/environ", /environ\|mem/],
    ["/proc/self/environ", /environ\|mem/],
    ["/proc/1/task/1/environ", /environ\|mem/],
    ["/proc/1/mem", /environ\|mem/],
    ["/proc/./1//environ", /environ\|mem/],
    ["/proc/kcore", /kcore/],
    ["/dev/mem", /\/dev\/mem/],
  ];
  for (const [arg, pattern] of cases) refused("cat", [arg], pattern);
  checkArguments("cat", ["/proc/1/status", "/proc/meminfo", "/proc/1/cmdline"], noLinks);
  refused("grep", ["--directories", "recurse", "x", "/etc"], /recursively/);
});

Deno.test("checkArguments() follows links of arguments that exist", () => {
  const links: Record<string, string> = {
    "/tmp/innocent": "/etc/shadow",
    "/var/log/keys": "/root/.ssh",
  };
  const realPath = (path: string) => links[path] ?? undefined;
  refused("cat", ["/tmp/innocent"], /through \/tmp\/innocent/, realPath);
  refused("cat", ["innocent"], /through \/tmp\/innocent/, realPath);
  refused("ls", ["/var/log/keys"], /\/root\//, realPath);
  checkArguments("cat", ["/tmp/other"], realPath);
});

Deno.test("checkArguments() refuses recursive reads of directories that hold secrets", () => {
  for (const dir of ["/", "/etc", "/home", "/root", "/run", "/etc/"]) {
    refused("grep", ["-r", "password", dir], /recursively|\/root\//);
  }
  refused("grep", ["-Rni", "x", "/home"], /recursively/);
  refused("grep", ["--recursive", "x", "/etc"], /recursively/);
  refused("grep", ["-d", "recurse", "x", "/etc"], /recursively/);
  refused("diff", ["-r", "/etc", "/tmp/etc"], /recursively/);
  checkArguments("grep", ["-r", "x", "/var/log"], noLinks);
  checkArguments("ls", ["-R", "/etc"], noLinks);
});

Deno.test("checkArguments() refuses ip netns exec and ip vrf exec in any abbreviation", () => {
  refused("ip", ["netns", "exec", "ns1", "bash"], /run other programs/);
  refused("ip", ["net", "e", "ns1", "id"], /run other programs/);
  refused("ip", ["vrf", "exec", "blue", "id"], /run other programs/);
  refused("ip", ["-n", "x", "netns", "exec", "ns1", "id"], /run other programs/);
  refused("systemctl", ["--root=/mnt", "enable", "x"], /another tree/);
  refused("ip", ["-batch", "/tmp/cmds"], /ip -batch/);
  refused("ip", ["-b", "/tmp/cmds"], /ip -batch/);
  checkArguments("ip", ["-br", "addr"], noLinks);
  refused("systemctl", ["-H", "root@other", "status"], /ssh to another host/);
  refused("systemctl", ["--host=root@other", "status"], /ssh to another host/);
  refused("modprobe", ["-C", "/tmp/evil.conf", "x"], /another configuration/);
  refused("modprobe", ["--config=/tmp/evil.conf", "x"], /another configuration/);
  checkArguments("modprobe", ["-r", "nouveau"], noLinks);
  checkArguments("systemctl", ["status", "chronyd", "--no-pager"], noLinks);
});

Deno.test("checkArguments() bounds the count and size of arguments", () => {
  refused("echo", Array.from({ length: 257 }, () => "x"), /257 arguments: at most 256/);
  refused("echo", ["x".repeat(4097)], /more than 4096 bytes/);
});

Deno.test("spellings(), pathsIn() and normalize() expose every form of an argument", () => {
  assert.deepEqual(spellings("%252Fetc"), ["%252Fetc", "%2Fetc", "/etc"]);
  assert.equal(normalize("/a/./b//c/../d"), "/a/b/d");
  assert.equal(normalize("/../../x"), "/x");
  const { named, existing } = pathsIn("--file=/etc/x");
  assert.ok(named.includes("/etc/x"));
  assert.ok(existing.includes("/tmp/--file=/etc/x"));
  assert.deepEqual(pathsIn("notes.txt").existing, ["/tmp/notes.txt"]);
});
