/**
 * `pact shell` operations: an interactive session with a node's restricted
 * shell over the agent's Shell stream, and the replay of a session's
 * asciicast v2 recording. The local terminal is a port so that tests (and
 * pipes) drive the same code as a real TTY.
 */
import { PactError } from "../../shared/errors/mod.ts";
import type { ShellInput, ShellOutput } from "../../shared/proto/gen/pact/shell/shell.ts";

/** An open Shell stream (AgentClient.shell, or a fake). */
export interface ShellStreamPort {
  write(input: ShellInput): void;
  end(): void;
  cancel(): void;
  outputs(): AsyncIterable<ShellOutput>;
}

/** What the operations need from an agent. */
export interface ShellApi {
  shell(): ShellStreamPort;
  getRecording(sessionId: string): AsyncIterable<Uint8Array>;
}

/** The local terminal (or pipes). */
export interface LocalTerminal {
  /** True when stdin is a TTY: raw mode, window size and resizes apply. */
  readonly interactive: boolean;
  /** TERM to ask for. */
  readonly term: string;
  size(): { rows: number; cols: number } | undefined;
  setRaw(raw: boolean): void;
  /** Calls `listener` on each window resize (SIGWINCH); returns the remover. */
  onResize(listener: () => void): () => void;
  /** Local input until end of file. */
  input(): AsyncIterable<Uint8Array>;
  /** Remote terminal output. */
  output(bytes: Uint8Array): void;
  /** A line for the user (stderr), outside the remote terminal's output. */
  notice(text: string): void;
}

/** How a session ended. */
export interface ShellResult {
  readonly node: string;
  readonly session_id: string;
  readonly exit_code: number;
}

/** Ctrl-D: what the end of piped input becomes (the shell exits at an empty prompt). */
const EOF_BYTE = new Uint8Array([4]);

/**
 * Runs one session: Open with the local size and TERM, then local input
 * and resizes up, remote output down, until the remote shell exits. The
 * local terminal is back in cooked mode on every way out.
 */
export async function runShell(
  api: ShellApi,
  terminal: LocalTerminal,
  node: string,
): Promise<ShellResult> {
  const stream = api.shell();
  const size = (terminal.interactive ? terminal.size() : undefined) ?? { rows: 24, cols: 80 };
  stream.write({ input: { $case: "open", value: { ...size, term: terminal.term } } });
  let sessionId = "";
  let exitCode: number | undefined;
  let finished = false;
  let raw = false;
  let removeResize = () => {};
  try {
    if (terminal.interactive) {
      terminal.setRaw(true);
      raw = true;
      removeResize = terminal.onResize(() => {
        const now = terminal.size();
        if (now && !finished) stream.write({ input: { $case: "resize", value: now } });
      });
    }
    void (async () => {
      for await (const chunk of terminal.input()) {
        if (finished) return;
        stream.write({ input: { $case: "stdin", value: chunk } });
      }
      if (!finished) stream.write({ input: { $case: "stdin", value: EOF_BYTE } });
    })().catch(() => {/* Local input failed: the session still ends from the remote side. */});
    for await (const { output } of stream.outputs()) {
      switch (output?.$case) {
        case "sessionId":
          sessionId = output.value;
          if (terminal.interactive) {
            terminal.notice(`pact: shell session ${sessionId} on ${node} (recorded)`);
          }
          break;
        case "stdout":
          terminal.output(output.value);
          break;
        case "error":
          terminal.notice(`pact: ${output.value}`);
          break;
        case "exitCode":
          exitCode = output.value;
          break;
      }
      if (exitCode !== undefined) break;
    }
  } finally {
    finished = true;
    removeResize();
    if (raw) terminal.setRaw(false);
    stream.end();
  }
  if (exitCode === undefined) {
    throw new PactError(
      "UNAVAILABLE",
      `The agent of ${node} ended shell session ${
        sessionId || "(not opened)"
      } without an exit code`,
    );
  }
  return { node, session_id: sessionId, exit_code: exitCode };
}

/** The header line of an asciicast v2 recording. */
export interface CastHeader {
  readonly version: number;
  readonly width: number;
  readonly height: number;
  readonly timestamp?: number;
  readonly title?: string;
}

/** One event: seconds since the start, kind (`o` output, `r` resize...), data. */
export type CastEvent = [number, string, string];

/** Parses an asciicast v2 file; throws PactError VALIDATION when it is not one. */
export function parseCast(text: string): { header: CastHeader; events: CastEvent[] } {
  const lines = text.split("\n").filter((line) => line.trim() !== "");
  const bad = (why: string) => new PactError("VALIDATION", `Not an asciicast v2 recording: ${why}`);
  if (lines.length === 0) throw bad("it is empty");
  let header: CastHeader;
  try {
    header = JSON.parse(lines[0]!) as CastHeader;
  } catch {
    throw bad("the header is not JSON");
  }
  if (header.version !== 2) throw bad(`version ${header.version}`);
  const events = lines.slice(1).map((line, i) => {
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch {
      throw bad(`event ${i + 1} is not JSON`);
    }
    if (
      !Array.isArray(event) || typeof event[0] !== "number" || typeof event[1] !== "string" ||
      typeof event[2] !== "string"
    ) {
      throw bad(`event ${i + 1} is not [time, kind, data]`);
    }
    return event as CastEvent;
  });
  return { header, events };
}

/** How to replay. */
export interface ReplayOptions {
  /** Playback speed factor (2: twice as fast). */
  readonly speed: number;
  /** False: print everything at once. */
  readonly delay: boolean;
  /** Pauses longer than this are shortened to it (seconds). */
  readonly idleMaxSeconds?: number;
}

/** Default cap of a pause during replay. */
export const REPLAY_IDLE_MAX_SECONDS = 2;

/** Collects a recording's bytes. */
export async function fetchRecording(api: ShellApi, sessionId: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of api.getRecording(sessionId)) parts.push(chunk);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Plays the output events with their timing (scaled by speed, pauses capped). */
export async function replayCast(
  events: readonly CastEvent[],
  options: ReplayOptions,
  write: (text: string) => void,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<void> {
  const idleMax = options.idleMaxSeconds ?? REPLAY_IDLE_MAX_SECONDS;
  let last = 0;
  for (const [time, kind, data] of events) {
    if (kind !== "o") continue; // Resizes cannot be replayed on the local terminal.
    if (options.delay) {
      const pause = Math.min(Math.max(time - last, 0), idleMax) / options.speed;
      if (pause > 0.001) await sleep(pause * 1000);
    }
    last = time;
    write(data);
  }
}

/** Checks `--speed`: a positive number up to 1000. */
export function parseSpeed(text: string | undefined): number {
  if (text === undefined) return 1;
  const speed = Number(text);
  if (!Number.isFinite(speed) || speed <= 0 || speed > 1000) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Invalid --speed ${JSON.stringify(text)}: expected a number above 0, at most 1000`,
    );
  }
  return speed;
}
