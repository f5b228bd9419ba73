/**
 * The BOOT_CONFIG entry that tells the journal how this node booted: each
 * phase with its duration, outcome and detail, whether the config came
 * from the cache, the total time and the overlay version. The journal
 * keeps the latest as the node's `last_boot`, which `pact status <node>`
 * shows. The request id makes a retried append write once.
 */
import { toProtoScope } from "../../shared/domain/scope.ts";
import {
  type BootRecord,
  ConfigEntry,
  EntryType,
} from "../../shared/proto/gen/pact/config/config.ts";

/** Appends entries to the journal (a JournalClient, or a test's list). */
export interface EntryAppender {
  appendEntry(request: { entry: ConfigEntry }): Promise<{ sequence: number }>;
}

/** The BOOT_CONFIG entry of one boot; `bootId` is unique per boot of the agent process. */
export function bootEntry(nodeId: string, record: BootRecord, bootId: string): ConfigEntry {
  const failed = record.phases.find((p) => !p.ok);
  const message = failed
    ? `boot failed in ${failed.name} after ${record.totalMs} ms: ${failed.detail}`
    : `boot ready in ${record.totalMs} ms${record.fromCache ? " (from cached config)" : ""}`;
  return ConfigEntry.fromPartial({
    entryType: EntryType.BOOT_CONFIG,
    scope: toProtoScope({ kind: "node", id: nodeId }),
    message: message.length > 1000 ? `${message.slice(0, 997)}...` : message,
    requestId: `boot:${nodeId}:${bootId}`,
    payload: { $case: "boot", value: record },
  });
}

/**
 * Appends the entry, retrying every `retryIntervalMs` until it is written or
 * `attemptsMax` tries failed (a node booted from the cache may only reach
 * the journal later). Returns the sequence, or undefined after giving up.
 */
export async function journalBootRecord(
  appenders: readonly EntryAppender[],
  entry: ConfigEntry,
  options: {
    readonly attemptsMax: number;
    readonly retryIntervalMs: number;
    readonly log: (line: string) => void;
    readonly signal?: AbortSignal;
  },
): Promise<number | undefined> {
  for (let attempt = 1; attempt <= options.attemptsMax; attempt++) {
    for (const appender of appenders) {
      if (options.signal?.aborted) return undefined;
      try {
        return (await appender.appendEntry({ entry })).sequence;
      } catch (err) {
        options.log(
          `boot: cannot journal the boot record (try ${attempt}): ${(err as Error).message}`,
        );
      }
    }
    if (attempt < options.attemptsMax) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.retryIntervalMs);
        options.signal?.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve();
        }, { once: true });
      });
    }
  }
  options.log(`boot: gave up journaling the boot record after ${options.attemptsMax} tries`);
  return undefined;
}
