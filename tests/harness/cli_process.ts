import { BIN } from "./paths.ts";

/** What a CLI run produced. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the real `bin/pact` with a private HOME (so no user config leaks in)
 * and only the environment given.
 */
export async function runPact(
  args: string[],
  env: Record<string, string> = {},
  home?: string,
): Promise<CliResult> {
  const dir = home ?? await Deno.makeTempDir({ prefix: "pact-test-home-" });
  try {
    const output = await new Deno.Command(`${BIN}/pact`, {
      args,
      env: { HOME: dir, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...env },
      clearEnv: true,
      stdin: "null",
    }).output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    if (home === undefined) await Deno.remove(dir, { recursive: true });
  }
}
