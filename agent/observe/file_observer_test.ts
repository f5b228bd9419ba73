import assert from "node:assert/strict";
import { ManualClock } from "../../shared/clock/clock.ts";
import { sandboxHost, writeSandbox } from "../host/sandbox_host.ts";
import { FileObserver, type Interval } from "./file_observer.ts";
import type { ObserverEvent } from "./observer_event.ts";

/** An Interval that never fires: tests call sweep() themselves. */
const manualInterval: Interval = () => () => {};

async function withObserver(
  paths: string[],
  inotify: boolean,
  body: (ctx: { root: string; events: ObserverEvent[]; observer: FileObserver }) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "pact-observe-" });
  await writeSandbox(root, {
    files: { "/etc/hosts": "127.0.0.1 localhost\n", "/etc/app/a.conf": "a\n" },
  });
  const events: ObserverEvent[] = [];
  const observer = new FileObserver({
    files: sandboxHost(root).files,
    paths,
    clock: new ManualClock(),
    emit: (event) => events.push(event),
    sweepIntervalMs: 60_000,
    inotify,
    interval: manualInterval,
  });
  await observer.start();
  try {
    await body({ root, events, observer });
  } finally {
    await observer.stop();
    await Deno.remove(root, { recursive: true });
  }
}

async function waitFor(events: ObserverEvent[], count: number, timeoutMs = 2_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (events.length < count && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("FileObserver reports a file written in the sandbox through inotify within 1 s", async () => {
  await withObserver(["/etc/hosts", "/etc/app"], true, async ({ root, events }) => {
    const started = Date.now();
    await Deno.writeTextFile(`${root}/etc/hosts`, "10.0.0.1 evil\n");
    await waitFor(events, 1);
    assert.ok(Date.now() - started < 1_000, `took ${Date.now() - started} ms`);
    assert.equal(events.length, 1);
    const [event] = events;
    assert.equal(event?.category, "file");
    assert.equal(event?.key, "/etc/hosts");
    assert.equal(event?.source, "inotify");
    assert.match(event!.detail, /^modified \(sha256 [0-9a-f]{12} -> [0-9a-f]{12}\)$/);
  });
});

Deno.test("FileObserver follows files created below a declared directory", async () => {
  await withObserver(["/etc/app"], true, async ({ root, events }) => {
    await Deno.mkdir(`${root}/etc/app/sub`, { recursive: true });
    await Deno.writeTextFile(`${root}/etc/app/sub/new.conf`, "x\n");
    await waitFor(events, 1);
    assert.ok(events.some((e) => e.key === "/etc/app/sub/new.conf" && /^created/.test(e.detail)));
  });
});

Deno.test("FileObserver ignores files outside its declared paths and unchanged content", async () => {
  await withObserver(["/etc/hosts"], true, async ({ root, events, observer }) => {
    await Deno.writeTextFile(`${root}/etc/other`, "x\n");
    await Deno.writeTextFile(`${root}/etc/hosts`, "127.0.0.1 localhost\n"); // same bytes
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(events, []);
    assert.equal(await observer.sweep(), 0);
  });
});

Deno.test("FileObserver.sweep() catches what inotify missed, once", async () => {
  await withObserver(["/etc/hosts", "/etc/app"], false, async ({ root, events, observer }) => {
    await Deno.writeTextFile(`${root}/etc/hosts`, "changed\n");
    await Deno.remove(`${root}/etc/app/a.conf`);
    assert.equal(await observer.sweep(), 2);
    assert.deepEqual(events.map((e) => [e.key, e.source, e.detail.split(" ")[0]]), [
      ["/etc/hosts", "sweep", "modified"],
      ["/etc/app/a.conf", "sweep", "deleted"],
    ]);
    assert.equal(await observer.sweep(), 0, "a change is reported once");
  });
});

Deno.test("FileObserver.rebaseline() hides the agent's own writes", async () => {
  await withObserver(["/etc/hosts"], false, async ({ root, events, observer }) => {
    await Deno.writeTextFile(`${root}/etc/hosts`, "rolled back\n");
    await observer.rebaseline(["/etc/hosts"]);
    assert.equal(await observer.sweep(), 0);
    assert.deepEqual(events, []);
  });
});
