/** Wall time of whole CLI processes, measured from outside as a user experiences it. */
import { BIN, ROOT } from "../harness/paths.ts";
import { percentile } from "./stats.ts";

/** Start-up target for interactive commands (ms). */
export const CLI_TARGET_MS = 150;

/** Wall-time summary of one command line. */
export interface CliTiming {
  readonly label: string;
  readonly runs: number;
  readonly medianMs: number;
  readonly p90Ms: number;
  readonly minMs: number;
  readonly maxMs: number;
}

/** What to run: the program, its arguments, and extra environment. */
export interface CliCase {
  readonly label: string;
  readonly program: string;
  readonly args: readonly string[];
  readonly env?: Record<string, string>;
}

/** The command lines timed, given the running journal and a private HOME. */
export function cliCases(endpoint: string, token: string): CliCase[] {
  // Same flags for every floor case so they differ only in what they import.
  const denoRun = (script: string): string[] => [
    "run",
    "--quiet",
    "--no-prompt",
    "--allow-env",
    "--allow-net",
    `${ROOT}/tests/bench/fixtures/${script}`,
  ];
  return [
    { label: "deno run empty.ts (floor)", program: Deno.execPath(), args: denoRun("empty.ts") },
    {
      label: "deno run import journal client",
      program: Deno.execPath(),
      args: denoRun("load_grpc_client.ts"),
    },
    { label: "pact --help", program: `${BIN}/pact`, args: ["--help"] },
    {
      label: "pact status",
      program: `${BIN}/pact`,
      args: ["status"],
      env: { PACT_ENDPOINT: endpoint, PACT_TOKEN: token },
    },
  ];
}

/**
 * Runs every case `warmup` times untimed, then `runs` rounds timed. Rounds
 * go round-robin over the cases, so that a change in machine load during
 * the phase shifts all commands alike and their differences stay fair.
 * Fails on any non-zero exit.
 */
export async function timeCli(
  cases: readonly CliCase[],
  home: string,
  warmup: number,
  runs: number,
): Promise<CliTiming[]> {
  for (const c of cases) {
    for (let i = 0; i < warmup; i++) await runOnce(c, home);
  }
  const samples = cases.map((): number[] => []);
  for (let round = 0; round < runs; round++) {
    for (const [i, c] of cases.entries()) samples[i]!.push(await runOnce(c, home));
  }
  return cases.map((c, i) => summarize(c.label, samples[i]!));
}

function summarize(label: string, samples: number[]): CliTiming {
  const sorted = samples.sort((a, b) => a - b);
  return {
    label,
    runs: sorted.length,
    medianMs: percentile(sorted, 0.5),
    p90Ms: percentile(sorted, 0.9),
    minMs: sorted[0]!,
    maxMs: sorted[sorted.length - 1]!,
  };
}

/** One run's wall time in ms, spawn to exit. */
async function runOnce(c: CliCase, home: string): Promise<number> {
  // A clean environment (as tests/harness/cli_process.ts uses) keeps the
  // caller's PACT_* settings and DENO_DIR out; the shared HOME keeps Deno's
  // cache warm across runs, as it is for a real user.
  const command = new Deno.Command(c.program, {
    args: [...c.args],
    cwd: ROOT,
    env: {
      HOME: home,
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      DENO_NO_UPDATE_CHECK: "1",
      ...c.env,
    },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const started = performance.now();
  const output = await command.output();
  const elapsed = performance.now() - started;
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr);
    throw new Error(`${c.label} exited with ${output.code}:\n${stderr}`);
  }
  return elapsed;
}
