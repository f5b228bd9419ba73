/**
 * Runs inside `unshare -r -n` (a namespace the test creates): follows the
 * namespace's network with the real Linux host, adds an address to its
 * loopback and prints the events the observers reported, with latency.
 */
import { systemClock } from "../../../shared/clock/clock.ts";
import { linuxHost } from "../../host/linux_host.ts";
import { NetlinkObserver } from "../netlink_observer.ts";
import type { ObserverEvent } from "../observer_event.ts";
import { ProbeObserver } from "../probe_observer.ts";

const events: ObserverEvent[] = [];
const probes = new ProbeObserver({
  host: linuxHost(),
  clock: systemClock,
  emit: (event) => events.push(event),
  sysctlKeys: [],
  intervalMs: 3_600_000,
});
await probes.start();
const netlink = new NetlinkObserver({ probes });
await netlink.start();
await new Promise((resolve) => setTimeout(resolve, 200)); // ip monitor subscribes
const changedAt = Date.now();
await new Deno.Command("ip", { args: ["link", "set", "lo", "up"] }).output();
await new Deno.Command("ip", { args: ["addr", "add", "10.9.8.7/8", "dev", "lo"] }).output();
while (!events.some((e) => e.detail.includes("10.9.8.7")) && Date.now() - changedAt < 3_000) {
  await new Promise((resolve) => setTimeout(resolve, 5));
}
const latencyMs = Date.now() - changedAt;
await netlink.stop();
await probes.stop();
console.log(JSON.stringify({ latencyMs, events }));
