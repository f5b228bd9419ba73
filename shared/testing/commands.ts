/** Probes the tests use to skip what this machine cannot run. */

/** True when `command args...` can be run here and exits 0 (output discarded). */
export function commandSucceeds(command: string, args: readonly string[]): boolean {
  try {
    return new Deno.Command(command, { args: [...args], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}
