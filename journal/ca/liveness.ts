/**
 * Heartbeat-driven Active → Inactive (reference §2.10, E7): a node's
 * liveness is its config subscription. A node that is Active, has no
 * subscription open on this journal and has not had one for
 * `timeoutMs` is deactivated (NODE_DEACTIVATED), after which it may
 * enroll again, as a diskless node that rebooted with a new key must.
 * Only a single writing journal runs the sweep: in a quorum a node's
 * subscription may live on another replica, which this one cannot see.
 */
import { getLogger } from "@logtape/logtape";
import type { Clock } from "../../shared/clock/clock.ts";
import { toProtoScope } from "../../shared/domain/scope.ts";
import { isPactError } from "../../shared/errors/mod.ts";
import {
  ConfigEntry,
  EnrollmentState,
  EntryType,
  type Identity,
} from "../../shared/proto/gen/pact/config/config.ts";
import type { Journal } from "../core/journal.ts";

const log = getLogger(["pact", "journal", "enrollment"]);

/** What a NodeLiveness is built from. */
export interface NodeLivenessOptions {
  readonly journal: Journal;
  readonly clock: Clock;
  /** How long an Active node may be without a subscription. */
  readonly timeoutMs: number;
  /** Who the journal writes NODE_DEACTIVATED as. */
  readonly author: Identity;
}

/** Counts each node's open subscriptions and deactivates silent Active nodes. */
export class NodeLiveness {
  readonly #o: NodeLivenessOptions;
  readonly #open = new Map<string, number>();
  /** When each node's last subscription closed (or when this journal started watching). */
  readonly #lastSeenMs = new Map<string, number>();
  readonly #startedMs: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: NodeLivenessOptions) {
    this.#o = options;
    this.#startedMs = options.clock.now();
  }

  /** Marks a subscription of `nodeId` open; the returned function closes it (once). */
  connected(nodeId: string): () => void {
    this.#open.set(nodeId, (this.#open.get(nodeId) ?? 0) + 1);
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      const left = (this.#open.get(nodeId) ?? 1) - 1;
      if (left > 0) this.#open.set(nodeId, left);
      else this.#open.delete(nodeId);
      this.#lastSeenMs.set(nodeId, this.#o.clock.now());
    };
  }

  /** Open subscriptions of `nodeId` on this journal. */
  openCount(nodeId: string): number {
    return this.#open.get(nodeId) ?? 0;
  }

  /** Sweeps every `intervalMs` until `stop`. */
  start(intervalMs: number): void {
    this.#timer = setInterval(() => {
      this.sweep().catch((error) =>
        log.error("Liveness sweep failed: {error}", { error: (error as Error).message })
      );
    }, intervalMs);
    Deno.unrefTimer(this.#timer);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Deactivates the Active nodes silent for longer than the timeout; returns their ids. */
  async sweep(): Promise<string[]> {
    const now = this.#o.clock.now();
    const silent = [...this.#o.journal.state.enrollment.nodes.values()].filter((record) => {
      if (record.state !== EnrollmentState.ACTIVE || this.#open.has(record.nodeId)) return false;
      const since = Math.max(
        this.#startedMs,
        record.lastSeenMs ?? 0,
        this.#lastSeenMs.get(record.nodeId) ?? 0,
      );
      return now - since > this.#o.timeoutMs;
    });
    const done: string[] = [];
    for (const record of silent) {
      try {
        await this.#o.journal.append({
          entry: ConfigEntry.fromPartial({
            entryType: EntryType.NODE_DEACTIVATED,
            scope: toProtoScope({ kind: "node", id: record.nodeId }),
            author: this.#o.author,
            message: `no config subscription for ${
              Math.round(this.#o.timeoutMs / 1000)
            } s: inactive (may enroll again)`,
            payload: { $case: "enrollment", value: { nodeId: record.nodeId } },
          }),
        });
        done.push(record.nodeId);
      } catch (err) {
        // Another writer changed the node first (decommission, new enrollment).
        if (!isPactError(err)) throw err;
        log.debug("Cannot deactivate {node}: {error}", { node: record.nodeId, error: err.message });
      }
    }
    if (done.length > 0) log.info("Deactivated silent nodes: {nodes}", { nodes: done.join(",") });
    return done;
  }
}
