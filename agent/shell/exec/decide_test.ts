import assert from "node:assert/strict";
import { isPactError } from "../../../shared/errors/mod.ts";
import { AGENT_SECRETS, METACHARACTERS, SENSITIVE_PATHS, spellings } from "./arguments.ts";
import { decideExec, type ExecDecision, ExecRefused, lookPath, REAL_FS } from "./decide.ts";
import { isNeverAllowed, Whitelist } from "./whitelist.ts";

/**
 * A temporary exec PATH (`bin1`, `bin2`) whose entries link to files in
 * `real/`, and a `links/` directory outside the PATH whose links point at
 * whitelisted and non-whitelisted binaries and at /etc/shadow.
 */
async function fixture() {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "pact-exec-decide-" }));
  for (const dir of ["real", "bin1", "bin2", "links", "data"]) await Deno.mkdir(`${root}/${dir}`);
  const binaries = ["cat", "ls", "sysctl", "evil", "bash", "python3.11", "ipmitool", "busybox"];
  for (const name of binaries) {
    await Deno.writeTextFile(`${root}/real/${name}`, "#!/bin/false\n", { mode: 0o755 });
  }
  await Deno.writeTextFile(`${root}/real/noexec`, "x", { mode: 0o644 });
  const link = (target: string, path: string) => Deno.symlink(target, `${root}/${path}`);
  await link("../real/cat", "bin1/cat");
  await link("../real/ls", "bin1/ls");
  await link("../real/sysctl", "bin2/sysctl");
  await link("../real/ipmitool", "bin2/ipmitool");
  await link("../real/bash", "bin2/bash");
  await link("../real/python3.11", "bin2/python3");
  await link("../real/busybox", "bin2/foo");
  await link("../real/noexec", "bin1/head");
  await Deno.mkdir(`${root}/bin1/wc`);
  await link("../real/evil", "links/cat");
  await link("../real/bash", "links/ls");
  await link("../bin1/cat", "links/cat2");
  await link("../real/cat", "links/cat3");
  await link("/etc/shadow", "links/innocent");
  await link("../links/innocent", "data/chained");
  await Deno.writeTextFile(`${root}/data/notes.txt`, "notes\n");
  return { root, path: [`${root}/bin1`, `${root}/bin2`] };
}

const whitelist = Whitelist.of(["ipmitool", "bash"]);

Deno.test("decideExec() runs a whitelisted name from the exec PATH, or its absolute path", async () => {
  const { root, path } = await fixture();
  try {
    const options = { whitelist, platformAdmin: false, fs: REAL_FS, path };
    const byName = decideExec("cat", ["/proc/meminfo"], options);
    assert.deepEqual(byName, {
      command: "cat",
      binary: `${root}/bin1/cat`,
      realBinary: `${root}/real/cat`,
      decision: "whitelisted",
      stateChanging: false,
    });
    assert.equal(decideExec(`${root}/bin1/cat`, [], options).binary, `${root}/bin1/cat`);
    assert.equal(decideExec(`${root}/real/cat`, [], options).binary, `${root}/bin1/cat`);
    // A listed name that is not on the exec PATH is not found, even through a link to cat.
    assert.throws(
      () => decideExec(`${root}/links/cat3`, [], { ...options, whitelist: Whitelist.of(["cat3"]) }),
      (err) => isPactError(err, "NOT_FOUND"),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("decideExec() refuses links and paths that are not the whitelisted binary", async () => {
  const { root, path } = await fixture();
  try {
    const options = { whitelist, platformAdmin: false, fs: REAL_FS, path };
    const refusedWith = (
      command: string,
      args: string[],
      pattern: RegExp,
      code = "NOT_WHITELISTED",
    ) =>
      assert.throws(
        () => decideExec(command, args, options),
        (err) => err instanceof ExecRefused && err.code === code && pattern.test(err.message),
        command,
      );
    refusedWith(`${root}/links/cat`, [], /is not the cat on the exec PATH/);
    refusedWith(`${root}/links/ls`, [], /is not the ls on the exec PATH/);
    refusedWith(`${root}/real/evil`, [], /not whitelisted: evil/);
    refusedWith(`${root}/bin1/../links/cat`, [], /"\." or "\.\." segment/);
    refusedWith("bin1/cat", [], /give a name or an absolute path/);
    refusedWith("./cat", [], /give a name or an absolute path/);
    refusedWith("cat;id", [], /contains ";"/);
    refusedWith("%63at", [], /contains "%"/);
    refusedWith("", [], /no command given/);
    refusedWith("bash", ["-c", "id"], /runs other commands/);
    refusedWith("python3", [], /runs other commands/);
    refusedWith("vi", [], /runs other commands/);
    refusedWith(`${root}/bin2/bash`, [], /runs other commands/);
    refusedWith("nvidia-smi", [], /Command not found on the node: nvidia-smi/, "NOT_FOUND");
    refusedWith("head", [], /not found/, "NOT_FOUND");
    refusedWith("wc", [], /not found/, "NOT_FOUND");
    refusedWith(`${root}/bin1/nope`, [], /not whitelisted/);
    refusedWith("cat", [`${root}/links/innocent`], /\/etc\/shadow/);
    refusedWith("cat", [`${root}/data/chained`], /\/etc\/shadow/);
    refusedWith("cat", ["/etc/shadow"], /\/etc\/shadow/);
    assert.throws(() => decideExec("evil", [], options), ExecRefused);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("decideExec() marks only a plain non-whitelisted name as a learning suggestion", async () => {
  const { root, path } = await fixture();
  try {
    const options = { whitelist, platformAdmin: false, fs: REAL_FS, path };
    const refusal = (command: string) => {
      try {
        decideExec(command, [], options);
      } catch (err) {
        return err as ExecRefused;
      }
      throw new Error(`${command} was allowed`);
    };
    assert.equal(refusal("lsof").suggestable, true);
    assert.equal(refusal("bash").suggestable, false);
    assert.equal(refusal("cat;x").suggestable, false);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("decideExec() lets a platform admin bypass the whitelist, never for shell escapes", async () => {
  const { root, path } = await fixture();
  try {
    const admin = { whitelist: Whitelist.of(), platformAdmin: true, fs: REAL_FS, path };
    const bypass = decideExec("ipmitool", ["sel", "list"], admin);
    assert.equal(bypass.decision, "bypass");
    assert.equal(bypass.stateChanging, true, "an unknown command may change the node");
    assert.equal(decideExec("cat", [], admin).decision, "whitelisted");
    assert.throws(() => decideExec("bash", [], admin), /runs other commands/);
    assert.throws(() => decideExec("python3", [], admin), /runs other commands/);
    assert.throws(() => decideExec("foo", [], admin), /busybox, which runs other commands/);
    assert.throws(
      () => decideExec(`${root}/links/ls`, [], admin),
      /is not the ls on the exec PATH/,
    );
    assert.throws(() => decideExec("ipmitool", ["/etc/shadow"], admin), /\/etc\/shadow/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("decideExec() classifies state-changing commands and arguments", async () => {
  const { root, path } = await fixture();
  try {
    const options = { whitelist, platformAdmin: false, fs: REAL_FS, path };
    assert.equal(decideExec("sysctl", ["-n", "kernel.ostype"], options).stateChanging, true);
    assert.equal(decideExec("ls", ["-la"], options).stateChanging, false);
    assert.equal(decideExec("ipmitool", ["sel"], options).stateChanging, false);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/** A small seeded PRNG (mulberry32), so that a failing seed reproduces. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("decideExec() fuzz: never allows a command that is not a whitelisted binary, nor a secret argument", async () => {
  const { root, path } = await fixture();
  const seed = Number(Deno.env.get("PACT_FUZZ_SEED") ?? 20261123);
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const names = [
    "cat",
    "ls",
    "sysctl",
    "evil",
    "bash",
    "python3",
    "ipmitool",
    "foo",
    "head",
    "wc",
    "grep",
    "nope",
    "busybox",
    "cat3",
    "innocent",
    "python3.11",
  ];
  const dirs = [
    `${root}/bin1`,
    `${root}/bin2`,
    `${root}/links`,
    `${root}/real`,
    root,
    "/usr/bin",
    "/bin",
  ];
  const tricks = [
    (p: string) => p,
    (p: string) => p.replace(/\//g, "//"),
    (p: string) => p.replace(/\/([^/]+)$/, "/./$1"),
    (p: string) => p.replace(/\/([^/]+)$/, "/../bin1/$1"),
    (p: string) => p.replace(/\//g, "%2F"),
    (p: string) => `${p}/`,
    (p: string) => p.slice(1),
    (p: string) => `./${p.slice(p.lastIndexOf("/") + 1)}`,
    (p: string) => `${p}${pick(METACHARACTERS)}id`,
    (p: string) => `${p} `,
  ];
  const argPool = [
    "-la",
    "kernel.ostype",
    "/proc/meminfo",
    `${root}/data/notes.txt`,
    `${root}/links/innocent`,
    `${root}/data/chained`,
    "innocent",
    "/etc/shadow",
    "%2Fetc%2Fshadow",
    "%252Fetc%252Fgshadow",
    "--file=/root/.ssh/id_rsa",
    "/etc/ssl/private/x.key",
    "../../etc/passwd",
    "/run/pact/ca/ca.key",
    "/var/lib/pact/certs/node.key",
    "/proc/1/environ",
    "root",
    "a;b",
    "$(id)",
    "`id`",
    "a|b",
    "a&b",
    "x\ny",
    "x\0y",
    "-r",
    "/etc",
    "/",
  ];
  const whitelists = [Whitelist.of(), Whitelist.of(["ipmitool", "bash", "python3", "evil"])];
  const whitelistedReal = (list: Whitelist) =>
    new Set(
      list.list().map((c) => lookPath(c.command, path, REAL_FS)?.real).filter((r) =>
        r !== undefined
      ),
    );
  let allowed = 0;
  let refused = 0;
  const iterations = 5_000;
  try {
    for (let i = 0; i < iterations; i++) {
      const list = pick(whitelists);
      const platformAdmin = random() < 0.3;
      const name = pick(names);
      const command = random() < 0.4 ? name : pick(tricks)(`${pick(dirs)}/${name}`);
      const args = Array.from(
        { length: Math.floor(random() * 4) },
        () => random() < 0.75 ? pick(argPool.slice(0, 4)) : pick(argPool),
      );
      const context = `seed ${seed} iteration ${i}: ${
        JSON.stringify([command, ...args])
      } admin=${platformAdmin}`;
      let decision: ExecDecision;
      try {
        decision = decideExec(command, args, { whitelist: list, platformAdmin, fs: REAL_FS, path });
      } catch (err) {
        assert.ok(isPactError(err, "NOT_WHITELISTED", "NOT_FOUND"), `${context}: ${err}`);
        refused++;
        continue;
      }
      allowed++;
      // The binary run is the PATH entry of the decided name, and that is what was asked.
      const real = Deno.realPathSync(decision.binary);
      assert.equal(real, decision.realBinary, context);
      assert.equal(lookPath(decision.command, path, REAL_FS)?.path, decision.binary, context);
      if (command.includes("/")) assert.equal(Deno.realPathSync(command), real, context);
      else assert.equal(command, decision.command, context);
      assert.equal(isNeverAllowed(decision.command), false, context);
      if (decision.decision === "whitelisted") {
        assert.ok(list.get(decision.command), context);
        assert.ok(whitelistedReal(list).has(real), context);
      } else {
        assert.ok(platformAdmin, `${context}: bypass without platform admin`);
        assert.equal(isNeverAllowed(real.slice(real.lastIndexOf("/") + 1)), false, context);
      }
      // No argument carries a metacharacter or names a secret, in any spelling or through a link.
      for (const arg of args) {
        for (const form of spellings(arg)) {
          assert.ok(!METACHARACTERS.some((m) => form.includes(m)), context);
          assert.ok(!form.split("/").includes(".."), context);
          assert.ok(!/\/(environ|mem)$/.test(form), context);
          for (const secret of [...SENSITIVE_PATHS, ...AGENT_SECRETS]) {
            const bare = secret.replace(/\/$/, "");
            assert.ok(!form.includes(bare + "/") && !form.endsWith(bare), `${context}: ${secret}`);
          }
          const target = REAL_FS.realPath(form.startsWith("/") ? form : `/tmp/${form}`);
          if (target) {
            assert.ok(
              !SENSITIVE_PATHS.some((s) => target.startsWith(s.replace(/\/$/, ""))),
              context,
            );
          }
        }
      }
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
  // The generator must exercise both outcomes, or the test proves nothing.
  assert.ok(allowed > 250, `only ${allowed} allowed`);
  assert.ok(refused > 1000, `only ${refused} refused`);
});
