/**
 * The port through which host adapters run tools (`ip -j`, `systemctl`,
 * `rpm`). Tests substitute a runner that returns canned output.
 */
import { PactError } from "../../shared/errors/mod.ts";

/** What a finished command gave. `missing` says the binary does not exist. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly missing: boolean;
}

/** Runs a command to completion. */
export type CommandRunner = (command: string, args: readonly string[]) => Promise<CommandResult>;

/** Longest a probe command may run. */
export const COMMAND_TIMEOUT_MS = 5_000;
/** Most output a probe command may produce. */
const OUTPUT_BYTES_MAX = 16 * 1024 * 1024;

/** Runs real processes with a 5 s timeout, killing one that takes longer. */
export const realCommandRunner: CommandRunner = async (command, args) => {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(command, {
      args: [...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      return { code: 127, stdout: "", stderr: "", missing: true };
    }
    throw err;
  }
  const timer = setTimeout(() => child.kill("SIGKILL"), COMMAND_TIMEOUT_MS);
  try {
    const output = await child.output();
    if (output.stdout.length > OUTPUT_BYTES_MAX) {
      throw new PactError("RESOURCE_EXHAUSTED", `${command} printed more than 16 MiB`);
    }
    const decoder = new TextDecoder();
    return {
      code: output.signal === "SIGKILL" ? 124 : output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
      missing: false,
    };
  } finally {
    clearTimeout(timer);
  }
};

/** Runs and requires exit 0; a failure is an UNAVAILABLE error naming the command. */
export async function runChecked(
  runner: CommandRunner,
  command: string,
  args: readonly string[],
): Promise<string | undefined> {
  const result = await runner(command, args);
  if (result.missing) return undefined;
  if (result.code !== 0) {
    const why = result.code === 124 ? "timed out" : `exit ${result.code}`;
    throw new PactError(
      "UNAVAILABLE",
      `Cannot run ${[command, ...args].join(" ")}: ${why}: ${result.stderr.trim().split("\n")[0]}`,
    );
  }
  return result.stdout;
}
