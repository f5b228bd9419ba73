/**
 * Phase 0's mounts for real, under a scratch root, as PID 1 of a new user,
 * pid, mount, net and cgroup namespace (so that proc, sysfs and cgroup2 may
 * be mounted without privileges). Runs them twice and prints both outcomes
 * and what the mounted /proc shows. Usage: early_entry.ts <root>
 */
import { mountPseudoFilesystems } from "../early.ts";
import { libcInitCalls } from "../init_calls.ts";

if (import.meta.main) {
  const root = Deno.args[0]!;
  const calls = libcInitCalls();
  const log = (line: string) => console.error(line);
  const first = await mountPseudoFilesystems({ calls, root, log });
  const second = await mountPseudoFilesystems({ calls, root, log });
  const initComm = (await Deno.readTextFile(`${root}/proc/1/comm`)).trim();
  const cgroupControllers = await Deno.readTextFile(`${root}/sys/fs/cgroup/cgroup.controllers`)
    .then(() => true, () => false);
  console.log(JSON.stringify({ first, second, initComm, cgroupControllers, pid: Deno.pid }));
}
