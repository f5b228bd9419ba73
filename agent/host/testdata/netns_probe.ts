/**
 * Runs inside `unshare -r -n` (a user and network namespace the test
 * creates): configures the namespace's loopback, then reads and writes it
 * through the real Linux adapter and prints what it saw as JSON.
 */
import { linuxHost } from "../linux_host.ts";

const ip = (...args: string[]) => new Deno.Command("ip", { args }).output();
await ip("link", "set", "lo", "up");
await ip("addr", "add", "10.9.8.7/8", "dev", "lo");
const host = linuxHost();
const before = await host.sysctl.get("net.ipv4.ip_forward");
await host.sysctl.set("net.ipv4.ip_forward", before === "1" ? "0" : "1");
const after = await host.sysctl.get("net.ipv4.ip_forward");
console.log(JSON.stringify({ before, after, links: await host.network.links() }));
