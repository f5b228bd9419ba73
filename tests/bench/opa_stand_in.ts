/**
 * The OPA stand-in (tests/harness/opa_server.ts) as its own process, for
 * benchmarks that must not share an event loop with it: prints the Data API
 * endpoint on stdout, serves until SIGTERM.
 */
import { OpaServer } from "../harness/opa_server.ts";

const opa = OpaServer.start();
console.log(opa.endpoint);
Deno.addSignalListener("SIGTERM", async () => {
  await opa.stop();
  Deno.exit(0);
});
