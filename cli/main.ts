/** `pact`, the CLI: wires the real environment and streams, then runs the command. */
import { runCli } from "./program.ts";

const encoder = new TextEncoder();

/** Writes all of `text`; a closed pipe (`pact log | head`) ends the process quietly. */
function writer(stream: { writeSync(p: Uint8Array): number }): (text: string) => void {
  return (text) => {
    let bytes = encoder.encode(text);
    try {
      while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
    } catch (err) {
      if (err instanceof Deno.errors.BrokenPipe) Deno.exit(0);
      throw err;
    }
  };
}

if (import.meta.main) {
  const code = await runCli(
    Deno.args,
    { env: (name) => Deno.env.get(name), readTextFile: (path) => Deno.readTextFile(path) },
    { out: writer(Deno.stdout), err: writer(Deno.stderr) },
  );
  Deno.exit(code);
}
