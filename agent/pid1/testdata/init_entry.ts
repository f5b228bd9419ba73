/**
 * A minimal init for the PID-1 test: runs a PactSupervisor over the services
 * in a JSON file as the init of a pid namespace and prints every event as a
 * JSON line. Usage: init_entry.ts <config.json> [--no-reap]
 */
import { startInit } from "../init.ts";
import { ServiceDecl } from "../../../shared/proto/gen/pact/config/config.ts";
import { DenoSpawner } from "../../supervisor/process.ts";
import { parseServiceDecl } from "../../supervisor/service_spec.ts";
import { PactSupervisor } from "../../supervisor/supervisor.ts";
import { realTimers } from "../../supervisor/timers.ts";

interface EntryConfig {
  services: Partial<ServiceDecl>[];
  logDirectory: string;
}

if (import.meta.main) {
  // Signal handlers before anything else, as a real PID 1 must.
  const init = startInit({ reap: !Deno.args.includes("--no-reap") });
  const print = (line: unknown) => console.log(JSON.stringify(line));
  const config = JSON.parse(await Deno.readTextFile(Deno.args[0]!)) as EntryConfig;
  const supervisor = new PactSupervisor(
    config.services.map((decl) => parseServiceDecl(ServiceDecl.fromPartial(decl))),
    {
      spawner: new DenoSpawner(),
      timers: realTimers,
      logDirectory: config.logDirectory,
      onEvent: (event) => print({ event }),
      stopGraceMs: 5000,
    },
  );
  const signal = await init.run(supervisor, () => print({ ready: true, pid: Deno.pid }));
  print({ exit: signal, reaped: init.reaper.reapedCount });
  Deno.exit(0);
}
