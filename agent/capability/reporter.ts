/**
 * The capability reporter (reference §2.16): detects the node at boot
 * (after the services started), writes the report atomically to the
 * manifest, answers it on the unix socket, and detects again every poll
 * interval (GPU poll, default 30 s). Each round rewrites the manifest (the
 * periodic confirmation); a round that differs from the one before also
 * journals a CAPABILITY_CHANGE entry with the changed keys. A report asked
 * for (socket, GetCapability) whose node state (services, drift, emergency)
 * moved on since it was written is refreshed first, so it never shows a
 * stale emergency.
 */
import type { ConfigEntry } from "../../shared/proto/gen/pact/config/config.ts";
import type { FilesPort } from "../host/host.ts";
import type { EvaluatorState } from "../drift/evaluator_types.ts";
import type { EntrySink } from "../node_agent.ts";
import type { ServiceStatus } from "../supervisor/service_manager.ts";
import { capabilityChangeEntry } from "./change_entry.ts";
import { type CapabilityChange, capabilityChanges } from "./changes.ts";
import { type DetectLimits, detectNode } from "./detect.ts";
import {
  assembleReport,
  type NodeIdentity,
  type NodeState,
  nodeStateOf,
  stateKey,
} from "./report.ts";
import type { CapabilityReport, Detection } from "./report_types.ts";
import type { DetectSources } from "./sources.ts";
import { type CapabilitySocket, serveCapabilitySocket } from "./socket_server.ts";

/** Bound on CAPABILITY_CHANGE entries held while no journal is attached yet. */
const PENDING_ENTRIES_MAX = 100;

/** What the reporter needs. */
export interface ReporterOptions {
  readonly node: NodeIdentity;
  readonly sources: DetectSources;
  /** The node's files: the manifest is written through it (atomic rename). */
  readonly files: FilesPort;
  /** Node path of the manifest, e.g. /run/pact/capability.json. */
  readonly manifestPath: string;
  /** Real path of the unix socket; undefined: no socket. */
  readonly socketPath: string | undefined;
  /** Detection interval; 0: detect only at start and when asked to. */
  readonly pollIntervalMs: number;
  readonly services: () => Promise<{ backend: string; statuses: readonly ServiceStatus[] }>;
  readonly now: () => number;
  readonly newId?: (() => string) | undefined;
  readonly limits?: DetectLimits | undefined;
  readonly log: (line: string) => void;
}

/** The drift loop and journal, once the agent runs them. */
export interface ReporterAttachment {
  readonly journal: EntrySink | undefined;
  readonly drift: (() => EvaluatorState) | undefined;
}

/** Detects, writes, serves and journals the node's capabilities. */
export class CapabilityReporter {
  readonly #o: ReporterOptions;
  #detection: Detection | undefined;
  #report: CapabilityReport | undefined;
  #stateKey = "";
  #journal: EntrySink | undefined;
  #drift: (() => EvaluatorState) | undefined;
  #pending: ConfigEntry[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #socket: CapabilitySocket | undefined;
  #round: Promise<readonly CapabilityChange[]> | undefined;
  #stopped = false;

  constructor(options: ReporterOptions) {
    this.#o = options;
  }

  /** The first round, the socket and the poll timer; resolves with the first report. */
  async start(): Promise<CapabilityReport> {
    await this.poll();
    if (this.#o.socketPath !== undefined) {
      this.#socket = await serveCapabilitySocket(this.#o.socketPath, () => this.current(), {
        log: this.#o.log,
      });
    }
    if (this.#o.pollIntervalMs > 0) {
      this.#timer = setInterval(() => void this.poll(), this.#o.pollIntervalMs);
      Deno.unrefTimer(this.#timer);
    }
    return this.#report!;
  }

  /** Journals changes from now on (pending ones first) and reads drift and emergency. */
  attach(attachment: ReporterAttachment): void {
    this.#journal = attachment.journal;
    this.#drift = attachment.drift;
    for (const entry of this.#pending.splice(0)) this.#append(entry);
  }

  /** The latest report, refreshed first when the node's state changed since. */
  async current(): Promise<CapabilityReport> {
    if (this.#detection === undefined) return await this.#waitForFirst();
    const state = await this.#nodeState();
    if (stateKey(state) !== this.#stateKey) await this.#publish(this.#detection, state);
    return this.#report!;
  }

  /** The latest report as written, without refreshing; undefined before the first round. */
  get latest(): CapabilityReport | undefined {
    return this.#report;
  }

  /**
   * One detection round: detect, write the report, journal what changed.
   * Rounds never overlap: a round asked for while one runs joins it.
   */
  poll(): Promise<readonly CapabilityChange[]> {
    if (this.#round) return this.#round;
    this.#round = this.#poll().catch((err) => {
      this.#o.log(`capability: detection failed: ${(err as Error).message}`);
      return [];
    }).finally(() => (this.#round = undefined));
    return this.#round;
  }

  /** Stops polling and closes the socket (its file is removed). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#round;
    await this.#socket?.close();
  }

  async #poll(): Promise<readonly CapabilityChange[]> {
    if (this.#stopped) return [];
    const previous = this.#detection;
    const detection = await detectNode(this.#o.sources, previous, this.#o.limits);
    for (const problem of detection.problems) this.#o.log(`capability: ${problem}`);
    const changes = previous === undefined ? [] : capabilityChanges(previous, detection);
    this.#detection = detection;
    const report = await this.#publish(detection, await this.#nodeState());
    if (changes.length > 0) {
      this.#o.log(
        `capability: ${changes.length} change(s): ${
          changes.map((c) => `${c.key} ${c.previous} -> ${c.current}`).join("; ")
        }`,
      );
      this.#append(capabilityChangeEntry(report, changes));
    }
    return changes;
  }

  async #publish(detection: Detection, state: NodeState): Promise<CapabilityReport> {
    const report = assembleReport(
      this.#o.node,
      detection,
      state,
      (this.#o.newId ?? (() => crypto.randomUUID()))(),
      this.#o.now(),
    );
    await this.#o.files.write(
      this.#o.manifestPath,
      new TextEncoder().encode(`${JSON.stringify(report, null, 2)}\n`),
      0o644,
    );
    this.#report = report;
    this.#stateKey = stateKey(state);
    return report;
  }

  async #nodeState(): Promise<NodeState> {
    const { backend, statuses } = await this.#o.services();
    return nodeStateOf(backend, statuses, this.#drift?.());
  }

  async #waitForFirst(): Promise<CapabilityReport> {
    await this.poll();
    if (this.#report === undefined) throw new Error("No capability report yet");
    return this.#report;
  }

  #append(entry: ConfigEntry): void {
    if (this.#journal === undefined) {
      if (this.#pending.length < PENDING_ENTRIES_MAX) this.#pending.push(entry);
      return;
    }
    this.#journal.append(entry).then(
      (sequence) => this.#o.log(`capability: change journaled as seq:${sequence}`),
      (err) => this.#o.log(`capability: change not journaled: ${(err as Error).message}`),
    );
  }
}
