/**
 * Watches declared files and directories for changes: `Deno.watchFs`
 * (inotify) reports them within milliseconds, and a periodic hash sweep is
 * the backstop for events inotify drops (queue overflow, a directory that
 * did not exist when the watch started). A change is reported once: the
 * observer remembers the last hash it saw per path, and `rebaseline` makes
 * the agent's own writes (rollback, converge) invisible.
 */
import type { Clock } from "../../shared/clock/clock.ts";
import { sha256Hex } from "../../shared/hash.ts";
import type { FilesPort } from "../host/host.ts";
import type { ObserverEvent, Source } from "./observer_event.ts";

/** Starts a repeating callback; returns a function that stops it. */
export type Interval = (callback: () => void, periodMs: number) => () => void;

/** setInterval as an Interval. */
export const realInterval: Interval = (callback, periodMs) => {
  const id = setInterval(callback, periodMs);
  return () => clearInterval(id);
};

/** Options of a FileObserver. */
export interface FileObserverOptions {
  readonly files: FilesPort;
  /** Declared node paths: files, or directories watched with everything below them. */
  readonly paths: readonly string[];
  readonly clock: Clock;
  readonly emit: (event: ObserverEvent) => void;
  /** Period of the hash sweep. */
  readonly sweepIntervalMs: number;
  /** False turns inotify off (`inotify_enabled = false`): the sweep alone observes. */
  readonly inotify?: boolean;
  readonly interval?: Interval;
  /** Bound on tracked files below declared directories. */
  readonly trackedFilesMax?: number;
  /** Where a failing watcher is reported. Default: console.error. */
  readonly onError?: (err: unknown) => void;
}

/** Marks the agent's own temporary files (atomic writes), which are never drift. */
const TEMP_MARK = ".pact-tmp-";

/** Tracks declared paths and reports file drift. */
export class FileObserver {
  readonly #options: FileObserverOptions;
  readonly #hashes = new Map<string, string | undefined>();
  readonly #pending = new Set<string>();
  #watchers: Deno.FsWatcher[] = [];
  #stopSweep: (() => void) | undefined;
  #worker: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(options: FileObserverOptions) {
    this.#options = options;
  }

  /** Records the current state as the baseline, then starts inotify and the sweep. */
  async start(): Promise<void> {
    await this.rebaseline();
    if (this.#options.inotify ?? true) await this.#watch();
    this.#stopSweep = (this.#options.interval ?? realInterval)(() => {
      this.#enqueue(() => this.sweep().then(() => undefined));
    }, this.#options.sweepIntervalMs);
  }

  /** Stops watching; pending checks finish first. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopSweep?.();
    for (const watcher of this.#watchers) {
      try {
        watcher.close();
      } catch {
        // Already closed.
      }
    }
    this.#watchers = [];
    await this.#worker;
  }

  /** Re-reads `paths` (default: all) and takes what it finds as the new baseline. */
  async rebaseline(paths?: readonly string[]): Promise<void> {
    for (const path of paths ?? await this.#trackedPaths()) {
      this.#hashes.set(path, await this.#options.files.hash(path));
    }
  }

  /**
   * Announces content the agent itself is about to write (rollback,
   * converge), so that the watch event of that write is not reported.
   */
  expect(path: string, data: Uint8Array | undefined): void {
    this.#hashes.set(path, data === undefined ? undefined : sha256Hex(data));
  }

  /** Hashes every tracked path and reports what changed since last seen; returns the count. */
  async sweep(): Promise<number> {
    let count = 0;
    const tracked = await this.#trackedPaths();
    const known = new Set([...this.#hashes.keys()]);
    for (const path of new Set([...tracked, ...known])) {
      if (await this.#check(path, "sweep")) count++;
    }
    return count;
  }

  /** Node paths the observer follows: declared files plus files below declared directories. */
  async #trackedPaths(): Promise<string[]> {
    const max = this.#options.trackedFilesMax ?? 10_000;
    const found: string[] = [];
    for (const path of this.#options.paths) {
      const real = this.#options.files.realPath(path);
      const info = await Deno.stat(real).catch(() => undefined);
      if (info?.isDirectory) {
        for await (const file of walkFiles(real, max - found.length)) {
          const node = this.#options.files.nodePath(file);
          if (node !== undefined && !node.includes(TEMP_MARK)) found.push(node);
        }
      } else {
        found.push(path);
      }
      if (found.length >= max) break;
    }
    return found;
  }

  #covers(path: string): boolean {
    return this.#options.paths.some((p) => path === p || path.startsWith(`${p}/`));
  }

  async #watch(): Promise<void> {
    const targets = new Map<string, boolean>(); // real path -> recursive
    for (const path of this.#options.paths) {
      const real = this.#options.files.realPath(path);
      const info = await Deno.stat(real).catch(() => undefined);
      if (info?.isDirectory) {
        targets.set(real, true);
        continue;
      }
      // Watch the nearest existing directory, so creation and replacement by rename are seen.
      let dir = real.slice(0, real.lastIndexOf("/")) || "/";
      while (dir !== "/" && !(await Deno.stat(dir).catch(() => undefined))?.isDirectory) {
        dir = dir.slice(0, dir.lastIndexOf("/")) || "/";
      }
      if (!targets.get(dir)) targets.set(dir, false);
    }
    for (const [real, recursive] of targets) {
      const watcher = Deno.watchFs(real, { recursive });
      this.#watchers.push(watcher);
      this.#consume(watcher);
    }
  }

  #consume(watcher: Deno.FsWatcher): void {
    (async () => {
      try {
        for await (const event of watcher) {
          for (const real of event.paths) {
            const node = this.#options.files.nodePath(real);
            if (node === undefined || !this.#covers(node) || this.#pending.has(node)) continue;
            if (node.includes(TEMP_MARK)) continue;
            this.#pending.add(node);
            this.#enqueue(async () => {
              this.#pending.delete(node);
              await this.#checkEvent(node, real);
            });
          }
        }
      } catch (err) {
        if (!this.#stopped) (this.#options.onError ?? console.error)(err);
      }
    })();
  }

  /**
   * Checks the path of a watch event. A new directory is walked: files
   * written into it before the recursive watch reached it raise no event
   * of their own.
   */
  async #checkEvent(node: string, real: string): Promise<void> {
    const info = await Deno.lstat(real).catch(() => undefined);
    if (!info?.isDirectory) {
      await this.#check(node, "inotify");
      return;
    }
    for await (const file of walkFiles(real, this.#options.trackedFilesMax ?? 10_000)) {
      const inner = this.#options.files.nodePath(file);
      if (inner !== undefined && !inner.includes(TEMP_MARK) && this.#covers(inner)) {
        await this.#check(inner, "inotify");
      }
    }
  }

  /** Runs checks one at a time, so two never race on the same path. */
  #enqueue(task: () => Promise<void>): void {
    this.#worker = this.#worker.then(() => this.#stopped ? undefined : task());
  }

  /** Reports `path` when its hash differs from the last one seen. */
  async #check(path: string, source: Source): Promise<boolean> {
    const before = this.#hashes.get(path);
    const after = await this.#options.files.hash(path).catch(() => undefined);
    if (before === after) return false;
    this.#hashes.set(path, after);
    const short = (hash: string | undefined) => hash?.slice(0, 12);
    const detail = before === undefined
      ? `created (sha256 ${short(after)})`
      : after === undefined
      ? `deleted (was sha256 ${short(before)})`
      : `modified (sha256 ${short(before)} -> ${short(after)})`;
    this.#options.emit({
      category: "file",
      key: path,
      detail,
      source,
      atMs: this.#options.clock.now(),
    });
    return true;
  }
}

/** Regular files below `dir`, depth-first, at most `max`. */
async function* walkFiles(dir: string, max: number): AsyncGenerator<string> {
  let left = max;
  const stack = [dir];
  while (stack.length > 0 && left > 0) {
    const current = stack.pop()!;
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(current));
    } catch {
      continue;
    }
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const path = `${current}/${entry.name}`;
      if (entry.isDirectory) stack.push(path);
      else if (entry.isFile && left-- > 0) yield path;
    }
  }
}
