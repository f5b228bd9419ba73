import assert from "node:assert/strict";
import { ManualClock } from "../../shared/clock/clock.ts";
import { sandboxHost, writeSandbox } from "../host/sandbox_host.ts";
import type { Interval } from "./file_observer.ts";
import type { ObserverEvent } from "./observer_event.ts";
import { ProbeObserver } from "./probe_observer.ts";

const manualInterval: Interval = () => () => {};

Deno.test("ProbeObserver reports sysctl, mount, module, network, service and package changes", async () => {
  const root = await Deno.makeTempDir({ prefix: "pact-probe-" });
  try {
    const link = {
      name: "hsn0",
      mtu: 9000,
      up: true,
      mac: "02:00:00:00:00:01",
      addresses: ["10.1.0.5/16"],
    };
    await writeSandbox(root, {
      sysctl: { "vm.swappiness": "60", "vm.nr_hugepages": "0" },
      mounts: [{
        mountPoint: "/",
        fsType: "squashfs",
        source: "img",
        options: "ro",
        readOnly: true,
      }],
      modules: ["nvidia"],
      links: [link],
      services: [{ name: "chronyd", state: "running" }],
      packages: [{ name: "slurm", version: "23.11" }],
    });
    const clock = new ManualClock();
    const events: ObserverEvent[] = [];
    const observer = new ProbeObserver({
      host: sandboxHost(root),
      clock,
      emit: (event) => events.push(event),
      sysctlKeys: ["vm.swappiness", "vm.nr_hugepages", "vm.absent"],
      intervalMs: 10_000,
      interval: manualInterval,
    });
    await observer.start();
    assert.equal(await observer.probe(), 0, "nothing changed since the baseline");

    await writeSandbox(root, {
      sysctl: { "vm.swappiness": "10" },
      mounts: [
        { mountPoint: "/", fsType: "squashfs", source: "img", options: "ro", readOnly: true },
        {
          mountPoint: "/scratch",
          fsType: "nfs",
          source: "storage03:/scratch",
          options: "rw",
          readOnly: false,
        },
      ],
      modules: ["nvidia", "lustre"],
      links: [{ ...link, mtu: 1500 }],
      services: [{ name: "chronyd", state: "failed" }],
      packages: [],
    });
    clock.advance(10_000);
    assert.equal(await observer.probe(), 6);
    const seen = events.map((e) => [e.category, e.key, e.detail, e.source]);
    assert.deepEqual(seen, [
      ["kernel", "vm.swappiness", '"60" -> "10"', "probe"],
      ["mount", "/scratch", 'added: "nfs:storage03:/scratch (rw)"', "probe"],
      ["kernel", "module:lustre", 'added: "loaded"', "probe"],
      ["service", "chronyd", '"running" -> "failed"', "probe"],
      ["package", "slurm", 'removed (was "23.11")', "probe"],
      ["network", "hsn0", '"up mtu 9000 10.1.0.5/16" -> "up mtu 1500 10.1.0.5/16"', "probe"],
    ]);
    assert.ok(events.every((e) => e.atMs === clock.now()));
    assert.equal(await observer.probe(), 0, "each change is reported once");
    await observer.stop();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("ProbeObserver keeps probing the rest when one probe fails", async () => {
  const root = await Deno.makeTempDir({ prefix: "pact-probe-" });
  try {
    await writeSandbox(root, { sysctl: { "vm.swappiness": "60" } });
    const errors: unknown[] = [];
    const events: ObserverEvent[] = [];
    const observer = new ProbeObserver({
      host: sandboxHost(root),
      clock: new ManualClock(),
      emit: (event) => events.push(event),
      sysctlKeys: ["vm.swappiness"],
      intervalMs: 1_000,
      interval: manualInterval,
      onError: (err) => errors.push(err),
    });
    await observer.start();
    await writeSandbox(root, { files: { "/proc/self/mountinfo": "not mountinfo\n" } });
    await writeSandbox(root, { sysctl: { "vm.swappiness": "1" } });
    assert.equal(await observer.probe(), 1);
    assert.equal(events[0]?.key, "vm.swappiness");
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /Cannot parse mountinfo line 1/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("NetlinkObserver reports an address change in a namespace the test creates within 1 s", async () => {
  const script = new URL("./testdata/netns_netlink.ts", import.meta.url).pathname;
  const out = await new Deno.Command("unshare", {
    args: ["-r", "-n", Deno.execPath(), "run", "-A", "--quiet", script],
    stdout: "piped",
    stderr: "piped",
  }).output().catch(() => undefined);
  if (out === undefined || out.code !== 0) {
    const why = out === undefined ? "no unshare" : new TextDecoder().decode(out.stderr);
    console.log(`skipped: cannot run in a user+network namespace here (${why.slice(0, 200)})`);
    return;
  }
  const { latencyMs, events } = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    latencyMs: number;
    events: ObserverEvent[];
  };
  const change = events.find((e) => e.key === "lo" && e.detail.includes("10.9.8.7/8"));
  assert.ok(change, JSON.stringify(events));
  assert.equal(change.category, "network");
  assert.equal(change.source, "netlink", "ip monitor triggered the probe, not the period");
  assert.ok(latencyMs < 1_000, `took ${latencyMs} ms`);
});
