import type { Etcd3, IKeyValue, Watcher } from "etcd3";
import { PactError } from "../../shared/errors/mod.ts";
import { etcdAt } from "./_etcd_client.ts";

/** What `watchEtcdHead` needs. */
export interface HeadWatchOptions {
  readonly client: Etcd3;
  readonly headKey: string;
  readonly fromSequence: number;
  /** A linearizable read of the head (the store's `nextSequence`). */
  readonly readHead: () => Promise<number>;
  readonly onAdvance: (nextSequence: number) => void;
  readonly onError: (error: Error) => void;
  /** Period of the safety-net head read; 0 turns it off. */
  readonly pollMs: number;
  /** How long the watch may stay disconnected before `onError`. */
  readonly giveUpMs: number;
  /** The endpoints, for the error message (may be empty). */
  readonly endpoints: string;
}

/**
 * Follows the head key of an etcd store and reports each advance past the
 * last reported sequence, in increasing order.
 *
 * ```
 *            ┌──────── disconnected (member died, leader lost) ────────┐
 *            ▼                                                         │
 * start ─▶ CONNECTING ── connected ──▶ WATCHING ── put head ──▶ onAdvance
 *            │   ▲                        │
 *            │   └─ canceled by etcd ─────┘ (e.g. compacted revision: a new watch from now)
 *            └─ still not connected after giveUpMs ──▶ onError, stopped
 * ```
 *
 * etcd3 reconnects a broken watch stream by itself, on another member and
 * from the last revision it saw, so leader changes and member restarts
 * need nothing here. After every (re)connection the head is read once, and
 * every `pollMs` as well: a watch served by a member cut off from the
 * quorum can stay open yet silent, and the read (linearizable) cannot.
 */
export function watchEtcdHead(options: HeadWatchOptions): () => void {
  let stopped = false;
  let reported = options.fromSequence;
  let watcher: Watcher | undefined;
  let giveUpTimer: ReturnType<typeof setTimeout> | undefined;

  const report = (next: number): void => {
    if (stopped || !(next > reported)) return;
    reported = next;
    options.onAdvance(next);
  };
  const poll = (): void => {
    options.readHead().then(report, () => {/* the watch's own state decides failure */});
  };
  const armGiveUp = (): void => {
    giveUpTimer ??= setTimeout(() => {
      fail(
        new PactError(
          "UNAVAILABLE",
          `Cannot watch the journal head: ${
            etcdAt(options.endpoints)
          } has not answered for ${options.giveUpMs} ms`,
        ),
      );
    }, options.giveUpMs);
  };
  const clearGiveUp = (): void => {
    if (giveUpTimer !== undefined) clearTimeout(giveUpTimer);
    giveUpTimer = undefined;
  };
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    clearGiveUp();
    if (pollTimer !== undefined) clearInterval(pollTimer);
    const current = watcher;
    watcher = undefined;
    current?.cancel().catch(() => {/* the client may be closed already */});
  };
  const fail = (error: Error): void => {
    if (stopped) return;
    stop();
    options.onError(error);
  };
  const start = (): void => {
    armGiveUp();
    // `watcher()` attaches at once and hands back the Watcher (create()
    // would hide it until connected, so a stop before then could not
    // cancel it). Without a start revision it watches from now; the read
    // after `connected` covers anything written before.
    const w = options.client.watch().key(options.headKey).watcher();
    watcher = w;
    w.on("connected", () => {
      clearGiveUp();
      poll();
    });
    w.on("disconnected", () => armGiveUp());
    w.on("put", (kv: IKeyValue) => {
      const text = kv.value.toString();
      if (/^\d{1,16}$/.test(text)) report(Number(text));
      else poll();
    });
    w.on("error", () => {
      // etcd canceled the watch (e.g. its revision was compacted while we
      // were disconnected) and etcd3 has dropped it: watch again from now;
      // the read after `connected` catches up.
      if (stopped || watcher !== w) return;
      watcher = undefined;
      setTimeout(() => {
        if (!stopped) start();
      }, 100);
    });
  };

  const pollTimer = options.pollMs > 0 ? setInterval(poll, options.pollMs) : undefined;
  start();
  return stop;
}
