/**
 * A process on a pseudo-terminal: `openpty`, then `posix_spawn` with a new
 * session (POSIX_SPAWN_SETSID) whose stdin/stdout/stderr open the slave by
 * name, which makes it the child's controlling terminal. The master is
 * non-blocking; a loop waits for output with `poll` on a worker thread and
 * checks the child with `waitpid(pid, WNOHANG)` (never `waitpid(-1)`: the
 * pid is registered as ours so the PID-1 reaper leaves its status alone).
 * When the child has exited, what is left of its session is killed and both
 * ends are closed.
 */
import { PactError } from "../../../shared/errors/mod.ts";
import { ownChildren } from "../../supervisor/process.ts";
import {
  cString,
  cStringArray,
  F_GETFL,
  F_SETFD,
  F_SETFL,
  FD_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  POLLIN,
  POSIX_SPAWN_SETSID,
  POSIX_SPAWN_SETSIGDEF,
  POSIX_SPAWN_SETSIGMASK,
  ptyLibc,
  TIOCSWINSZ,
  WNOHANG,
} from "./libc.ts";

/** Largest window side accepted (larger sizes are clamped). */
export const PTY_DIMENSION_MAX = 500;
/** How long one poll waits before the loop checks the child again. */
const POLL_INTERVAL_MS = 100;
/** Bytes read from the master at once. */
const READ_CHUNK_BYTES = 64 * 1024;
/** Opaque libc structures, with room to spare (glibc: 80, 336 and 128 bytes). */
const FILE_ACTIONS_BYTES = 256;
const SPAWN_ATTR_BYTES = 1024;
const SIGSET_BYTES = 256;

/** What to run on the terminal. */
export interface PtySpawnOptions {
  /** Absolute path of the program. */
  readonly path: string;
  /** argv, argv[0] included. */
  readonly argv: readonly string[];
  /** The whole environment (nothing is inherited). */
  readonly env: Readonly<Record<string, string>>;
  /** Working directory of the child; default the agent's. */
  readonly cwd?: string;
  readonly rows: number;
  readonly cols: number;
}

/** Clamps a window side to 1..PTY_DIMENSION_MAX (0 or less: `fallback`). */
export function clampDimension(value: number, fallback: number): number {
  if (!Number.isFinite(value) || value <= 0) return fallback;
  return Math.min(Math.floor(value), PTY_DIMENSION_MAX);
}

/** A running child on a pseudo-terminal. */
export class Pty {
  readonly pid: number;
  /** The terminal's output; ends once the child has exited and its output is drained. */
  readonly output: ReadableStream<Uint8Array>;
  /** The exit code (128 + signal when killed by one). */
  readonly exited: Promise<number>;
  readonly #master: number;
  readonly #slave: number;
  #exitCode: number | undefined;
  #closed = false;
  #writing: Promise<void> = Promise.resolve();

  private constructor(pid: number, master: number, slave: number) {
    this.pid = pid;
    this.#master = master;
    this.#slave = slave;
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    this.output = new ReadableStream({ start: (c) => void (controller = c) });
    this.exited = this.#run(controller);
  }

  /** Opens a terminal of `rows` x `cols` and starts `path` on it; throws PactError INTERNAL. */
  static spawn(options: PtySpawnOptions): Pty {
    const libc = ptyLibc();
    const masterBuf = new Int32Array(1);
    const slaveBuf = new Int32Array(1);
    const name = new Uint8Array(4096);
    const size = winsize(options.rows, options.cols);
    if (libc.openpty(masterBuf, slaveBuf, name, null, size) !== 0) {
      throw new PactError("INTERNAL", "Cannot open a pseudo-terminal (openpty failed)");
    }
    const master = masterBuf[0]!;
    const slave = slaveBuf[0]!;
    const slavePath = name.subarray(0, name.indexOf(0));
    // Neither end may leak into the child: it opens the slave by name instead.
    libc.fcntl(master, F_SETFD, FD_CLOEXEC);
    libc.fcntl(slave, F_SETFD, FD_CLOEXEC);
    libc.fcntl(master, F_SETFL, libc.fcntl(master, F_GETFL, 0) | O_NONBLOCK);
    let pid: number;
    try {
      pid = spawnOnTerminal(options, new TextDecoder().decode(slavePath));
    } catch (err) {
      libc.close(master);
      libc.close(slave);
      throw err;
    }
    return new Pty(pid, master, slave);
  }

  /** Writes input to the terminal (in order with earlier writes). */
  write(data: Uint8Array): Promise<void> {
    const copy = new Uint8Array(data);
    this.#writing = this.#writing.then(() => this.#writeAll(copy));
    return this.#writing;
  }

  /** Sets the window size; the foreground process gets SIGWINCH. */
  resize(rows: number, cols: number): void {
    if (this.#closed) return;
    ptyLibc().ioctl(this.#master, BigInt(TIOCSWINSZ), winsize(rows, cols));
  }

  /** Sends a signal to the child's whole session (it leads its process group). */
  kill(signal: Deno.Signal = "SIGHUP"): void {
    if (this.#exitCode !== undefined) return;
    for (const pid of sessionMembers(this.pid)) {
      try {
        Deno.kill(pid, signal);
      } catch { /* already gone */ }
    }
  }

  /** Hangs up (SIGHUP), then kills after `graceMs`; resolves with the exit code. */
  async close(graceMs = 2_000): Promise<number> {
    this.kill("SIGHUP");
    const timer = setTimeout(() => this.kill("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  async #writeAll(data: Uint8Array<ArrayBuffer>): Promise<void> {
    const libc = ptyLibc();
    let at = 0;
    while (at < data.length && !this.#closed && this.#exitCode === undefined) {
      const n = Number(libc.write(this.#master, data.subarray(at), BigInt(data.length - at)));
      if (n > 0) at += n;
      else await new Promise((resolve) => setTimeout(resolve, 10)); // Input queue full (EAGAIN).
    }
  }

  async #run(controller: ReadableStreamDefaultController<Uint8Array>): Promise<number> {
    const libc = ptyLibc();
    const pollfd = new Uint8Array(8);
    const view = new DataView(pollfd.buffer);
    const buffer = new Uint8Array(READ_CHUNK_BYTES);
    const status = new Int32Array(1);
    const drain = () => {
      for (;;) {
        const n = Number(libc.read(this.#master, buffer, BigInt(buffer.length)));
        if (n <= 0) return; // EAGAIN: nothing more for now.
        controller.enqueue(buffer.slice(0, n));
      }
    };
    try {
      for (;;) {
        view.setInt32(0, this.#master, true);
        view.setInt16(4, POLLIN, true);
        view.setInt16(6, 0, true);
        const ready = await libc.poll(pollfd, 1n, POLL_INTERVAL_MS);
        if (ready > 0) drain();
        const reaped = libc.waitpid(this.pid, status, WNOHANG);
        if (reaped === this.pid) {
          this.#exitCode = exitCodeOf(status[0]!);
          break;
        }
        if (reaped < 0) {
          this.#exitCode = 255; // Collected by someone else: the status is lost.
          break;
        }
      }
      drain();
    } finally {
      ownChildren.delete(this.pid);
      // Background jobs of the session would keep the terminal (and run on).
      for (const pid of sessionMembers(this.pid)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* already gone */ }
      }
      this.#closed = true;
      libc.close(this.#slave);
      libc.close(this.#master);
      controller.close();
    }
    return this.#exitCode;
  }
}

/** struct winsize { rows, cols, xpixel, ypixel } (16-bit each). */
function winsize(rows: number, cols: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, clampDimension(rows, 24), true);
  view.setUint16(2, clampDimension(cols, 80), true);
  return bytes;
}

/** The exit code of a wait status: the code, or 128 + the signal. */
function exitCodeOf(status: number): number {
  const signal = status & 0x7f;
  return signal === 0 ? (status >> 8) & 0xff : 128 + signal;
}

/** posix_spawn in a new session, stdio on the slave; returns the pid. */
function spawnOnTerminal(options: PtySpawnOptions, slavePath: string): number {
  const libc = ptyLibc();
  const actions = new Uint8Array(FILE_ACTIONS_BYTES);
  const attr = new Uint8Array(SPAWN_ATTR_BYTES);
  const all = new Uint8Array(SIGSET_BYTES);
  const none = new Uint8Array(SIGSET_BYTES);
  const slave = cString(slavePath);
  const path = cString(options.path);
  const argv = cStringArray(options.argv);
  const envp = cStringArray(Object.entries(options.env).map(([k, v]) => `${k}=${v}`));
  const cwd = options.cwd === undefined ? undefined : cString(options.cwd);
  libc.posix_spawn_file_actions_init(actions);
  libc.posix_spawnattr_init(attr);
  try {
    // setsid runs before the file actions, so opening the slave (without
    // O_NOCTTY) makes it the new session's controlling terminal.
    libc.posix_spawn_file_actions_addopen(actions, 0, slave, O_RDWR, 0);
    libc.posix_spawn_file_actions_adddup2(actions, 0, 1);
    libc.posix_spawn_file_actions_adddup2(actions, 0, 2);
    if (cwd) libc.posix_spawn_file_actions_addchdir_np(actions, cwd);
    libc.sigfillset(all);
    libc.sigemptyset(none);
    libc.posix_spawnattr_setsigdefault(attr, all); // Deno ignores SIGPIPE; the shell must not.
    libc.posix_spawnattr_setsigmask(attr, none);
    libc.posix_spawnattr_setflags(
      attr,
      POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK,
    );
    const pid = new Int32Array(1);
    const err = libc.posix_spawn(
      pid,
      path,
      actions,
      attr,
      new Uint8Array(argv.array.buffer),
      new Uint8Array(envp.array.buffer),
    );
    if (err !== 0) {
      throw new PactError(
        "INTERNAL",
        `Cannot start ${options.path} on a terminal: posix_spawn failed (errno ${err})`,
      );
    }
    ownChildren.add(pid[0]!);
    void argv.keep, envp.keep; // Referenced until here.
    return pid[0]!;
  } finally {
    libc.posix_spawn_file_actions_destroy(actions);
    libc.posix_spawnattr_destroy(attr);
  }
}

/** Live (not zombie) pids whose session is `sid`: the child and what it started, from /proc. */
export function sessionMembers(sid: number): number[] {
  const found: number[] = [];
  let entries: Iterable<Deno.DirEntry>;
  try {
    entries = Deno.readDirSync("/proc");
  } catch {
    return [sid];
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry.name)) continue;
    let text: string;
    try {
      text = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
    } catch {
      continue; // It exited while we looked.
    }
    // After "comm)": state ppid pgrp session ...
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[3]) === sid && fields[0] !== "Z") found.push(Number(entry.name));
  }
  return found;
}
