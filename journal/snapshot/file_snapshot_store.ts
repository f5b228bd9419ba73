import { sha256Hex } from "../../shared/hash.ts";
import type { Snapshot, SnapshotStore } from "./port.ts";

const MAGIC = "PACTSNAP1";
const NAME = /^snapshot-(\d{20})\.bin$/;

/** Options of a FileSnapshotStore. */
export interface FileSnapshotStoreOptions {
  /** How many snapshots to keep. Default 3. */
  readonly keep?: number;
  /** Called when a snapshot file is unreadable and skipped. */
  readonly onCorrupt?: (file: string, reason: string) => void;
}

/**
 * Snapshots as files `snapshot-<nextSequence>.bin` in one directory, each
 * with a checksum header; written to a temporary file, fsynced and renamed
 * so that a crash never leaves a half-written snapshot under a real name.
 */
export class FileSnapshotStore implements SnapshotStore {
  readonly #dir: string;
  readonly #keep: number;
  readonly #onCorrupt: (file: string, reason: string) => void;

  constructor(dir: string, options: FileSnapshotStoreOptions = {}) {
    this.#dir = dir;
    this.#keep = options.keep ?? 3;
    this.#onCorrupt = options.onCorrupt ?? (() => {});
  }

  async latest(): Promise<Snapshot | undefined> {
    for (const file of (await this.#files()).reverse()) {
      const snapshot = await this.#read(file);
      if (snapshot) return snapshot;
    }
    return undefined;
  }

  async save(snapshot: Snapshot): Promise<void> {
    await Deno.mkdir(this.#dir, { recursive: true });
    const name = `snapshot-${String(snapshot.nextSequence).padStart(20, "0")}.bin`;
    const header = new TextEncoder().encode(`${MAGIC}\n${sha256Hex(snapshot.data)}\n`);
    const tmp = `${this.#dir}/.${name}.tmp`;
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      await writeAll(file, header);
      await writeAll(file, snapshot.data);
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, `${this.#dir}/${name}`);
    await syncDir(this.#dir);
    await this.#prune();
  }

  async #files(): Promise<string[]> {
    const names: string[] = [];
    try {
      for await (const entry of Deno.readDir(this.#dir)) {
        if (entry.isFile && NAME.test(entry.name)) names.push(entry.name);
      }
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return [];
      throw err;
    }
    return names.sort();
  }

  async #read(name: string): Promise<Snapshot | undefined> {
    const bytes = await Deno.readFile(`${this.#dir}/${name}`);
    const firstNl = bytes.indexOf(10);
    const secondNl = bytes.indexOf(10, firstNl + 1);
    const decoder = new TextDecoder();
    if (firstNl < 0 || secondNl < 0 || decoder.decode(bytes.subarray(0, firstNl)) !== MAGIC) {
      this.#onCorrupt(name, "missing header");
      return undefined;
    }
    const checksum = decoder.decode(bytes.subarray(firstNl + 1, secondNl));
    const data = bytes.subarray(secondNl + 1);
    if (sha256Hex(data) !== checksum) {
      this.#onCorrupt(name, "checksum mismatch");
      return undefined;
    }
    return { nextSequence: Number(NAME.exec(name)![1]), data };
  }

  async #prune(): Promise<void> {
    const files = await this.#files();
    for (const name of files.slice(0, Math.max(0, files.length - this.#keep))) {
      await Deno.remove(`${this.#dir}/${name}`);
    }
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}

/** Makes a rename durable by fsyncing the directory that holds it. */
async function syncDir(dir: string): Promise<void> {
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}
