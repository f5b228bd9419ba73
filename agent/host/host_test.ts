import assert from "node:assert/strict";
import { isPactError } from "../../shared/errors/mod.ts";
import type { Host } from "./host.ts";
import { linuxHost } from "./linux_host.ts";
import { sandboxHost, writeSandbox } from "./sandbox_host.ts";
import type { CommandRunner } from "./command_runner.ts";

async function withSandbox(body: (host: Host, root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "pact-sandbox-" });
  try {
    await body(sandboxHost(root), root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("sandboxHost() files: write, read, stat, hash and remove stay below the root", async () => {
  await withSandbox(async (host, root) => {
    assert.equal(await host.files.read("/etc/hosts"), undefined);
    await host.files.write("/etc/pact/x.conf", new TextEncoder().encode("a=1\n"), 0o640);
    assert.equal(await Deno.readTextFile(`${root}/etc/pact/x.conf`), "a=1\n");
    assert.equal(new TextDecoder().decode(await host.files.read("/etc/pact/x.conf")), "a=1\n");
    const info = await host.files.stat("/etc/pact/x.conf");
    assert.equal(info?.size, 4);
    assert.equal(info?.mode, "0640");
    assert.equal(
      await host.files.hash("/etc/pact/x.conf"),
      "fe3209d6d4f51935b391288a43df48d9ddece1a992597ae53387ca16611a9179",
      "sha256 of a=1\\n",
    );
    assert.equal(host.files.realPath("/etc/hosts"), `${root}/etc/hosts`);
    assert.equal(host.files.nodePath(`${root}/etc/hosts`), "/etc/hosts");
    assert.equal(host.files.nodePath("/elsewhere/x"), undefined);
    await host.files.remove("/etc/pact/x.conf");
    await host.files.remove("/etc/pact/x.conf");
    assert.equal(await host.files.stat("/etc/pact/x.conf"), undefined);
  });
});

Deno.test("sandboxHost() refuses node paths that would leave the root", async () => {
  await withSandbox(async (host) => {
    for (const path of ["etc/hosts", "/etc/../../outside"]) {
      await assert.rejects(host.files.write(path, new Uint8Array()), (err) => {
        assert.ok(isPactError(err, "INVALID_ARGUMENT"));
        assert.match(err.message, /Invalid node path/);
        return true;
      });
    }
  });
});

Deno.test("sandboxHost() sysctl reads and writes <root>/proc/sys", async () => {
  await withSandbox(async (host, root) => {
    await writeSandbox(root, { sysctl: { "vm.swappiness": "60" } });
    assert.equal(await host.sysctl.get("vm.swappiness"), "60");
    assert.equal(await host.sysctl.get("vm.nr_hugepages"), undefined);
    await host.sysctl.set("vm.swappiness", "10");
    assert.equal(await Deno.readTextFile(`${root}/proc/sys/vm/swappiness`), "10\n");
    assert.equal(await host.sysctl.get("vm.swappiness"), "10");
    await assert.rejects(host.sysctl.get("../etc/passwd"), /Invalid sysctl key/);
  });
});

Deno.test("sandboxHost() mounts, modules, network, services and packages come from its files", async () => {
  await withSandbox(async (host, root) => {
    await writeSandbox(root, {
      mounts: [
        {
          mountPoint: "/",
          fsType: "squashfs",
          source: "/dev/loop0",
          options: "ro",
          readOnly: true,
        },
        {
          mountPoint: "/local scratch",
          fsType: "nfs",
          source: "storage03:/scratch",
          options: "rw,noatime",
          readOnly: false,
        },
      ],
      modules: ["nvidia", "lustre"],
      links: [{
        name: "hsn0",
        mtu: 9000,
        up: true,
        mac: "02:00:00:00:00:01",
        addresses: ["10.1.0.5/16"],
      }],
      routes: [{ destination: "default", gateway: "10.1.0.1", device: "hsn0" }],
      services: [{ name: "chronyd", state: "running" }],
      packages: [{ name: "slurm", version: "23.11" }],
    });
    const mounts = await host.mounts.list();
    assert.deepEqual(mounts.map((m) => [m.mountPoint, m.fsType, m.source, m.readOnly]), [
      ["/", "squashfs", "/dev/loop0", true],
      ["/local scratch", "nfs", "storage03:/scratch", false],
    ]);
    assert.deepEqual((await host.modules.list()).map((m) => m.name), ["nvidia", "lustre"]);
    const [link] = await host.network.links();
    assert.deepEqual(link, {
      name: "hsn0",
      mtu: 9000,
      up: true,
      mac: "02:00:00:00:00:01",
      addresses: ["10.1.0.5/16"],
    });
    assert.deepEqual(await host.network.routes(), [
      { destination: "default", gateway: "10.1.0.1", device: "hsn0" },
    ]);
    assert.deepEqual(await host.services.list(), [{ name: "chronyd", state: "running" }]);
    assert.deepEqual(await host.packages.list(), [{ name: "slurm", version: "23.11" }]);
  });
});

Deno.test("sandboxHost() finds consumers holding files below a path", async () => {
  await withSandbox(async (host, root) => {
    await writeSandbox(root, {
      processes: {
        4242: { command: "python", open: ["/scratch/data/train.bin", "/etc/hosts"] },
        77: { command: "bash", open: ["/home/x"] },
      },
    });
    assert.deepEqual(await host.consumers.of("/scratch"), [
      { pid: 4242, command: "python", path: "/scratch/data/train.bin" },
    ]);
    assert.deepEqual(await host.consumers.of("/scratc"), [], "a prefix of a name is not below it");
    assert.deepEqual(await host.consumers.of("/opt"), []);
  });
});

Deno.test("linuxHost() reads this machine's mounts, modules and addresses without writing", async () => {
  const host = linuxHost();
  const mounts = await host.mounts.list();
  assert.ok(mounts.some((m) => m.mountPoint === "/"), "the root filesystem is mounted");
  const modules = await host.modules.list(); // empty where the kernel has no /proc/modules
  assert.ok(modules.every((m) => m.name !== "" && m.sizeBytes >= 0));
  const links = await host.network.links();
  const lo = links.find((link) => link.name === "lo");
  assert.ok(lo, "ip -j addr lists the loopback interface");
  assert.ok(lo.addresses.includes("127.0.0.1/8"));
  assert.match((await host.sysctl.get("kernel.ostype")) ?? "Linux", /Linux/);
});

Deno.test("linuxHost() writes sysctl and reads links inside a namespace the test creates", async () => {
  const hostValue = await Deno.readTextFile("/proc/sys/net/ipv4/ip_forward").catch(() => undefined);
  const probe = new URL("./testdata/netns_probe.ts", import.meta.url).pathname;
  const out = await new Deno.Command("unshare", {
    args: ["-r", "-n", Deno.execPath(), "run", "-A", "--quiet", probe],
    stdout: "piped",
    stderr: "piped",
  }).output().catch(() => undefined);
  if (out === undefined || out.code !== 0) {
    console.log(
      `skipped: unshare -r -n not permitted here (${new TextDecoder().decode(out?.stderr)})`,
    );
    return;
  }
  const seen = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.notEqual(seen.after, seen.before, "the namespace's ip_forward changed");
  assert.ok(
    seen.links.some((l: { name: string; addresses: string[] }) =>
      l.name === "lo" && l.addresses.includes("10.9.8.7/8")
    ),
  );
  const hostAfter = await Deno.readTextFile("/proc/sys/net/ipv4/ip_forward").catch(() => undefined);
  assert.equal(hostAfter, hostValue, "the machine's own sysctl is untouched");
});

Deno.test("linuxHost() parses systemctl and package tools through its command runner", async () => {
  const runner: CommandRunner = (command, args) => {
    const out = (stdout: string) =>
      Promise.resolve({ code: 0, stdout, stderr: "", missing: false });
    if (command === "systemctl") {
      assert.ok(args.includes("--type=service"));
      return out(
        "chronyd.service loaded active running NTP\nnvidia.service loaded failed failed GPU\n",
      );
    }
    if (command === "rpm") {
      return Promise.resolve({ code: 127, stdout: "", stderr: "", missing: true });
    }
    if (command === "dpkg-query") return out("bash\t5.2-1\nslurm\t23.11\n");
    if (command === "ip") {
      return Promise.resolve({
        code: 1,
        stdout: "",
        stderr: "RTNETLINK: denied\nmore",
        missing: false,
      });
    }
    throw new Error(`unexpected ${command}`);
  };
  const host = linuxHost(runner);
  assert.deepEqual(await host.services.list(), [
    { name: "chronyd", state: "running" },
    { name: "nvidia", state: "failed" },
  ]);
  assert.deepEqual(await host.packages.list(), [
    { name: "bash", version: "5.2-1" },
    { name: "slurm", version: "23.11" },
  ]);
  await assert.rejects(host.network.links(), (err) => {
    assert.ok(isPactError(err, "UNAVAILABLE"));
    assert.equal(err.message, "Cannot run ip -j addr: exit 1: RTNETLINK: denied");
    return true;
  });
});
