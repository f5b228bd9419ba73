/**
 * One config subscription: catch-up from a sequence, then live updates,
 * heartbeats while idle, and a cut-off (RESOURCE_EXHAUSTED, saying where to
 * resume) for a subscriber that falls too far behind or stops reading.
 * Memory per subscriber stays bounded by the journal's live-queue backlog.
 */
import type { Clock } from "../../shared/clock/clock.ts";
import { isPactError, PactError } from "../../shared/errors/mod.ts";
import type { ConfigEntry } from "../../shared/proto/gen/pact/config/config.ts";
import type { ConfigUpdate } from "../../shared/proto/gen/pact/stream/stream.ts";
import { SUBSCRIBER_BACKLOG_MAX } from "../core/subscription.ts";
import { heartbeatOf, updateOf } from "./config_updates.ts";

/** Default idle time before a heartbeat. */
export const HEARTBEAT_MS_DEFAULT = 15_000;
/** Default time one update may wait for the subscriber to read it. */
export const SUBSCRIBER_STALL_MS_DEFAULT = 60_000;

/** The part of the Journal a subscription follows. */
export interface UpdateSource {
  readonly state: { readonly nextSequence: number };
  subscribe(
    fromSequence: number,
    filter: (entry: ConfigEntry) => boolean,
    signal?: AbortSignal,
  ): AsyncIterable<ConfigEntry>;
}

/** How one subscription behaves. */
export interface UpdateStreamOptions {
  readonly clock: Clock;
  readonly heartbeatMs?: number | undefined;
  readonly stallMs?: number | undefined;
}

/**
 * Sends every entry from `fromSequence` on that passes `filter` until
 * `signal` aborts or the journal closes. `send` resolves once the transport
 * takes the update (it may hold back while the subscriber does not read).
 */
export async function followUpdates(
  journal: UpdateSource,
  options: UpdateStreamOptions,
  fromSequence: number,
  filter: (entry: ConfigEntry) => boolean,
  signal: AbortSignal,
  send: (update: ConfigUpdate) => Promise<void>,
): Promise<void> {
  const { clock } = options;
  const heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS_DEFAULT;
  const stallMs = options.stallMs ?? SUBSCRIBER_STALL_MS_DEFAULT;
  let lastSentMs = clock.now();
  let lastSent: number | undefined;
  let writing = false;
  const deliver = async (update: ConfigUpdate) => {
    writing = true;
    try {
      await withinStallLimit(send(update), stallMs);
    } finally {
      writing = false;
      lastSentMs = clock.now();
    }
  };
  const heartbeat = setInterval(() => {
    if (writing || clock.now() - lastSentMs < heartbeatMs) return;
    deliver(heartbeatOf(journal.state.nextSequence, clock.now())).catch(() => {});
  }, Math.max(5, Math.floor(heartbeatMs / 4)));
  try {
    for await (const entry of journal.subscribe(fromSequence, filter, signal)) {
      await deliver(updateOf(entry));
      lastSent = entry.sequence;
    }
  } catch (err) {
    if (isPactError(err, "RESOURCE_EXHAUSTED")) throw tooSlow(lastSent, err);
    throw err;
  } finally {
    clearInterval(heartbeat);
  }
}

async function withinStallLimit(write: Promise<void>, stallMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new PactError("RESOURCE_EXHAUSTED", `Subscriber stopped reading for ${stallMs} ms`)),
      stallMs,
    );
  });
  try {
    await Promise.race([write, stalled]);
  } finally {
    clearTimeout(timer);
  }
}

function tooSlow(lastSent: number | undefined, cause: unknown): PactError {
  const sent = lastSent === undefined ? "none was sent" : `the last one sent was seq:${lastSent}`;
  return new PactError(
    "RESOURCE_EXHAUSTED",
    `Subscriber too slow (more than ${SUBSCRIBER_BACKLOG_MAX} entries behind or not reading): ` +
      `resubscribe from the last sequence you processed + 1 (${sent})`,
    { cause },
  );
}
