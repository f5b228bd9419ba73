import assert from "node:assert/strict";
import { isPactError } from "../../shared/errors/mod.ts";
import { Blacklist, parseBlacklistPattern } from "./blacklist.ts";

Deno.test("Blacklist excludes any depth under a /** pattern and the directory itself", () => {
  const list = new Blacklist(["/tmp/**"]);
  assert.ok(list.excludes("/tmp"));
  assert.ok(list.excludes("/tmp/x"));
  assert.ok(list.excludes("/tmp/a/b/c/d"));
  assert.ok(list.excludes("/tmp//a/"), "repeated and trailing slashes are normalized");
  assert.ok(!list.excludes("/tmpfile"), "a sibling sharing the prefix is not covered");
  assert.ok(!list.excludes("/var/tmp/x"));
});

Deno.test("Blacklist excludes exactly one more segment under a /* pattern", () => {
  const list = new Blacklist(["/etc/pact/*"]);
  assert.ok(list.excludes("/etc/pact/agent.toml"));
  assert.ok(!list.excludes("/etc/pact/ca/ca.crt"), "two segments deeper is not covered");
  assert.ok(!list.excludes("/etc/pact"), "the directory itself is not covered");
  assert.ok(!list.excludes("/etc/pactx/a"));
});

Deno.test("Blacklist matches other patterns exactly", () => {
  const list = new Blacklist(["/etc/motd"]);
  assert.ok(list.excludes("/etc/motd"));
  assert.ok(!list.excludes("/etc/motd.d"));
  assert.ok(!list.excludes("/etc/motd/x"));
  assert.ok(!list.excludes("/etc"));
});

Deno.test("Blacklist with the reference defaults excludes noise and keeps config", () => {
  const list = new Blacklist([
    "/tmp/**",
    "/var/log/**",
    "/proc/**",
    "/sys/**",
    "/dev/**",
    "/run/user/**",
  ]);
  for (
    const noise of [
      "/var/log/messages",
      "/proc/sys/vm/swappiness",
      "/dev/shm/x",
      "/run/user/1000/bus",
    ]
  ) {
    assert.ok(list.excludes(noise), noise);
  }
  for (const config of ["/etc/hosts", "/var/lib/x", "/run/pact/ready", "/var/logrotate"]) {
    assert.ok(!list.excludes(config), config);
  }
  assert.equal(list.match("/var/log/a/b")?.pattern, "/var/log/**");
});

Deno.test("parseBlacklistPattern() refuses relative patterns and inner wildcards", () => {
  for (
    const [pattern, message] of [
      ["tmp/**", /must be an absolute path/],
      ["/var/*/log", /'\*' may only appear as a trailing/],
      ["/var/**/x/**", /'\*' may only appear as a trailing/],
    ] as const
  ) {
    assert.throws(() => parseBlacklistPattern(pattern), (err) => {
      assert.ok(isPactError(err, "INVALID_ARGUMENT"));
      assert.match(err.message, message);
      return true;
    });
  }
});
