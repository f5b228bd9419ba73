/**
 * Carries out a rollback: checks for active consumers first (reference A5),
 * then writes the remembered state of each drifted key back to the host.
 * What a key was is kept in a StateMemory: taken when the agent starts
 * and renewed by each commit. Dimensions the agent cannot restore by itself
 * (mounts, network, services, packages, gpu) are reported, not guessed.
 */
import type { DeclaredState } from "../../shared/proto/gen/pact/config/config.ts";
import type { Host } from "../host/host.ts";
import type { DriftItem } from "./evaluator_types.ts";

/** Bound on remembered file bytes, so a huge declared tree cannot exhaust memory. */
const MEMORY_BYTES_MAX = 64 * 1024 * 1024;

/** The committed content of files and values of sysctls. */
export class StateMemory {
  readonly #files = new Map<string, Uint8Array | undefined>();
  readonly #sysctl = new Map<string, string | undefined>();
  #bytes = 0;

  /** Remembers the current host state of the given files and sysctl keys. */
  async capture(host: Host, files: readonly string[], sysctlKeys: readonly string[]) {
    for (const path of files) {
      const data = await host.files.read(path);
      const old = this.#files.get(path);
      this.#bytes += (data?.length ?? 0) - (old?.length ?? 0);
      if (this.#bytes > MEMORY_BYTES_MAX) {
        throw new RangeError(`Cannot remember ${path}: over ${MEMORY_BYTES_MAX} bytes of files`);
      }
      this.#files.set(path, data);
    }
    for (const key of sysctlKeys) this.#sysctl.set(key, await host.sysctl.get(key));
  }

  /**
   * Takes the declared content and values as what a rollback restores
   * (files whose content the overlay does not carry keep what was captured).
   */
  seed(declared: DeclaredState): void {
    for (const file of declared.files) {
      if (file.content.length > 0) this.#files.set(file.path, file.content);
    }
    for (const [key, value] of Object.entries(declared.sysctl)) this.#sysctl.set(key, value);
  }

  /** Remembers the drifted keys' current state, as a commit accepts it. */
  async commit(host: Host, items: readonly DriftItem[]): Promise<void> {
    await this.capture(
      host,
      items.filter((i) => i.dimension === "files").map((i) => i.key),
      items.filter((i) => i.dimension === "kernel" && !i.key.startsWith("module:")).map((i) =>
        i.key
      ),
    );
  }

  /** Takes `value` as the declared value of a sysctl (a journal change, reference §2.19). */
  declareSysctl(key: string, value: string): void {
    this.#sysctl.set(key, value);
  }

  file(path: string): { known: boolean; data: Uint8Array | undefined } {
    return { known: this.#files.has(path), data: this.#files.get(path) };
  }

  sysctl(key: string): { known: boolean; value: string | undefined } {
    return { known: this.#sysctl.has(key), value: this.#sysctl.get(key) };
  }
}

/** What a rollback did. */
export interface RollbackOutcome {
  /** Processes that use an affected resource; non-empty means nothing was changed. */
  readonly consumers: readonly string[];
  readonly restored: readonly DriftItem[];
  /** Keys the agent could not restore, with why. */
  readonly skipped: readonly { readonly item: DriftItem; readonly reason: string }[];
}

/** Rolls `items` back on `host` unless something uses them. */
export async function rollBack(
  host: Host,
  memory: StateMemory,
  items: readonly DriftItem[],
  beforeWrite: (path: string, data: Uint8Array | undefined) => void = () => {},
): Promise<RollbackOutcome> {
  const consumers: string[] = [];
  for (const item of items) {
    if (item.dimension !== "mounts" && item.dimension !== "files") continue;
    for (const c of await host.consumers.of(item.key)) {
      consumers.push(`pid ${c.pid} (${c.command}) holds ${c.path}`);
    }
  }
  if (consumers.length > 0) return { consumers, restored: [], skipped: [] };
  const restored: DriftItem[] = [];
  const skipped: { item: DriftItem; reason: string }[] = [];
  for (const item of items) {
    const reason = await restore(host, memory, item, beforeWrite);
    if (reason === undefined) restored.push(item);
    else skipped.push({ item, reason });
  }
  return { consumers, restored, skipped };
}

async function restore(
  host: Host,
  memory: StateMemory,
  item: DriftItem,
  beforeWrite: (path: string, data: Uint8Array | undefined) => void,
) {
  if (item.dimension === "files") {
    const { known, data } = memory.file(item.key);
    if (!known) return "no remembered content";
    beforeWrite(item.key, data);
    if (data === undefined) await host.files.remove(item.key);
    else await host.files.write(item.key, data);
    return undefined;
  }
  if (item.dimension === "kernel" && !item.key.startsWith("module:")) {
    const { known, value } = memory.sysctl(item.key);
    if (!known || value === undefined) return "no remembered value";
    await host.sysctl.set(item.key, value);
    return undefined;
  }
  return `the agent cannot restore ${item.dimension} yet`;
}
