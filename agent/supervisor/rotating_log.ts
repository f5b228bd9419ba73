/**
 * A service's captured stdout/stderr: at most `files` files of at most
 * `fileBytesMax` bytes each (`<name>.log`, `<name>.log.1`, ...), the oldest
 * dropped on rotation, so a chatty service can never fill the node's RAM disk.
 * Readers take the last lines (`tail`) or follow new output (`follow`).
 */
import { join } from "node:path";

/** Size limits of one service's log. */
export interface LogLimits {
  readonly fileBytesMax: number;
  readonly files: number;
}

/** Defaults: 4 files of 1 MiB. */
export const DEFAULT_LOG_LIMITS: LogLimits = { fileBytesMax: 1024 * 1024, files: 4 };

/** Chunks a follower may fall behind before older ones are dropped. */
const FOLLOW_BACKLOG_CHUNKS_MAX = 1024;

type Follower = (chunk: Uint8Array) => void;

/** One service's rotating log. Writes are serialized; every method is safe to interleave. */
export class RotatingLog {
  readonly path: string;
  readonly #limits: LogLimits;
  #sizeBytes = -1;
  #queue: Promise<void> = Promise.resolve();
  readonly #followers = new Set<Follower>();

  constructor(directory: string, name: string, limits: LogLimits = DEFAULT_LOG_LIMITS) {
    if (!(limits.fileBytesMax > 0) || !(limits.files >= 1)) {
      throw new RangeError(
        `A log needs a positive size and at least one file, not ${limits.fileBytesMax} bytes x ${limits.files}`,
      );
    }
    this.path = join(directory, `${name}.log`);
    this.#limits = limits;
  }

  /** Appends bytes; resolves once they are on disk. */
  write(chunk: Uint8Array): Promise<void> {
    for (const follower of this.#followers) follower(chunk);
    const done = this.#queue.then(() => this.#append(chunk));
    this.#queue = done.catch(() => {});
    return done;
  }

  /** Copies a stream into the log until it ends. */
  async capture(stream: ReadableStream<Uint8Array>): Promise<void> {
    for await (const chunk of stream) await this.write(chunk);
  }

  /** The last `lines` lines across all files, oldest first. */
  async tail(lines: number): Promise<string[]> {
    await this.#queue;
    const parts: string[] = [];
    for (let index = this.#limits.files - 1; index >= 0; index--) {
      try {
        parts.push(await Deno.readTextFile(this.#fileAt(index)));
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    }
    const all = parts.join("").split("\n");
    if (all.at(-1) === "") all.pop();
    return lines <= 0 ? [] : all.slice(-lines);
  }

  /**
   * New output as it is written, until `signal` aborts. A follower that
   * falls more than FOLLOW_BACKLOG_CHUNKS_MAX chunks behind loses the oldest.
   */
  async *follow(signal: AbortSignal): AsyncGenerator<Uint8Array> {
    const backlog: Uint8Array[] = [];
    let wake: (() => void) | undefined;
    const follower: Follower = (chunk) => {
      backlog.push(chunk);
      if (backlog.length > FOLLOW_BACKLOG_CHUNKS_MAX) backlog.shift();
      wake?.();
    };
    const onAbort = () => wake?.();
    this.#followers.add(follower);
    signal.addEventListener("abort", onAbort);
    try {
      while (!signal.aborted) {
        const chunk = backlog.shift();
        if (chunk !== undefined) {
          yield chunk;
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      this.#followers.delete(follower);
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Paths of the files that exist now, newest first. */
  async files(): Promise<string[]> {
    const found: string[] = [];
    for (let index = 0; index < this.#limits.files; index++) {
      try {
        await Deno.stat(this.#fileAt(index));
        found.push(this.#fileAt(index));
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    }
    return found;
  }

  #fileAt(index: number): string {
    return index === 0 ? this.path : `${this.path}.${index}`;
  }

  async #append(chunk: Uint8Array): Promise<void> {
    if (this.#sizeBytes < 0) this.#sizeBytes = await sizeOf(this.path);
    let rest = chunk;
    while (rest.length > 0) {
      if (this.#sizeBytes >= this.#limits.fileBytesMax) await this.#rotate();
      const room = this.#limits.fileBytesMax - this.#sizeBytes;
      const piece = rest.subarray(0, room);
      await Deno.writeFile(this.path, piece, { append: true });
      this.#sizeBytes += piece.length;
      rest = rest.subarray(piece.length);
    }
  }

  async #rotate(): Promise<void> {
    const last = this.#limits.files - 1;
    if (last === 0) {
      await Deno.writeFile(this.path, new Uint8Array());
    } else {
      await Deno.remove(this.#fileAt(last)).catch(ignoreNotFound);
      for (let index = last - 1; index >= 0; index--) {
        await Deno.rename(this.#fileAt(index), this.#fileAt(index + 1)).catch(ignoreNotFound);
      }
    }
    this.#sizeBytes = 0;
  }
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return 0;
    throw err;
  }
}

function ignoreNotFound(err: unknown): void {
  if (!(err instanceof Deno.errors.NotFound)) throw err;
}
