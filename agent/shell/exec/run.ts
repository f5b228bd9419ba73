/**
 * Runs one decided command (reference §2.11): a direct exec with the
 * arguments as an array (never a shell), a cleared environment, stdin
 * closed, stdout and stderr handed over separately as they come. Every
 * limit is explicit: the timeout sends SIGTERM, then SIGKILL after a
 * grace; each stream forwards at most `outputBytesMax` bytes, the rest is
 * read and dropped (so the command is not blocked on a full pipe).
 */
import { createHash } from "node:crypto";
import { EXEC_CWD } from "./arguments.ts";

/** Default and greatest timeout of one command. */
export const EXEC_TIMEOUT_DEFAULT_SECONDS = 300;
export const EXEC_TIMEOUT_MAX_SECONDS = 3600;
/** Default and greatest bytes forwarded per stream. */
export const OUTPUT_BYTES_MAX = 10 * 1024 * 1024;
/** Exit code reported when the timeout killed the command (as timeout(1) does). */
export const TIMED_OUT_EXIT_CODE = 124;

/** The environment of every command (reference §2.11); nothing of the agent's leaks in. */
export const EXEC_ENV: Readonly<Record<string, string>> = {
  PATH: "/usr/bin:/bin",
  HOME: "/tmp",
  LANG: "C.UTF-8",
};

/** Which stream a chunk came from. */
export type StreamName = "stdout" | "stderr";

/** What a run needs. */
export interface RunOptions {
  readonly binary: string;
  readonly args: readonly string[];
  readonly timeoutMs: number;
  readonly outputBytesMax: number;
  /** Between SIGTERM and SIGKILL. */
  readonly killGraceMs: number;
  /** Receives output as produced; awaited (backpressure). */
  readonly onOutput: (stream: StreamName, bytes: Uint8Array) => Promise<void>;
  /** Aborted when the caller went away: the command is killed. */
  readonly signal: AbortSignal;
}

/** One stream's totals. */
export interface StreamResult {
  /** Bytes forwarded. */
  readonly bytes: number;
  /** SHA-256 (hex) of the bytes forwarded. */
  readonly sha256: string;
  readonly truncated: boolean;
}

/** How a run ended. */
export interface RunResult {
  /** The command's exit code; 128+n when a signal n ended it; 124 on timeout. */
  readonly exitCode: number;
  readonly timedOut: boolean;
  readonly cancelled: boolean;
  readonly durationMs: number;
  readonly stdout: StreamResult;
  readonly stderr: StreamResult;
}

/** Runs the command; throws PactError-free Deno errors only when it cannot start. */
export async function runCommand(options: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const child = new Deno.Command(options.binary, {
    args: [...options.args],
    env: { ...EXEC_ENV },
    clearEnv: true,
    cwd: EXEC_CWD,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  let cancelled = false;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const stop = () => {
    kill(child, "SIGTERM");
    killTimer ??= setTimeout(() => kill(child, "SIGKILL"), options.killGraceMs);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, options.timeoutMs);
  const onAbort = () => {
    cancelled = true;
    stop();
  };
  options.signal.addEventListener("abort", onAbort, { once: true });
  try {
    const [stdout, stderr, status] = await Promise.all([
      pump(child.stdout, "stdout", options),
      pump(child.stderr, "stderr", options),
      child.status,
    ]).catch(async (err) => {
      // Output could not be handed on: the command must not outlive the call.
      stop();
      await child.status;
      throw err;
    });
    const signalled = status.signal ? 128 + signalNumber(status.signal) : status.code;
    return {
      exitCode: timedOut ? TIMED_OUT_EXIT_CODE : signalled,
      timedOut,
      cancelled,
      durationMs: Math.round(performance.now() - started),
      stdout,
      stderr,
    };
  } finally {
    clearTimeout(timer);
    clearTimeout(killTimer);
    options.signal.removeEventListener("abort", onAbort);
  }
}

async function pump(
  stream: ReadableStream<Uint8Array>,
  name: StreamName,
  options: RunOptions,
): Promise<StreamResult> {
  const hash = createHash("sha256");
  let bytes = 0;
  let truncated = false;
  for await (const chunk of stream) {
    if (truncated || options.signal.aborted) continue;
    const room = options.outputBytesMax - bytes;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (part.length < chunk.length) truncated = true;
    if (part.length === 0) continue;
    bytes += part.length;
    hash.update(part);
    await options.onOutput(name, part);
  }
  return { bytes, sha256: hash.digest("hex"), truncated };
}

function kill(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // Already exited.
  }
}

const SIGNALS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

function signalNumber(signal: Deno.Signal): number {
  return SIGNALS[signal] ?? 0;
}
