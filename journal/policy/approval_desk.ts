/**
 * Drives two-person approvals through the journal: creates PendingApproval
 * entries for deferred operations, records decisions, runs an approved
 * operation exactly once, and expires what nobody decided in time.
 *
 *            request                 approve (another human)
 *   (none) ──────────▶ Pending ─────────────────────────────▶ Approved ──▶ operation appended
 *                        │  │  reject (any authorized human)                (once, by request id)
 *                        │  └─────────────────────────────▶ Rejected
 *                        │ expiry (journal timer, writer only)
 *                        └────────────────────────────────▶ Expired
 *
 * Every transition is an entry that the state machine in
 * `state/approvals.ts` validates against the current state, so when two
 * journals of a quorum (or an approver and the expiry timer) race, one
 * entry lands and the other is refused and ignored.
 */
import { getLogger } from "@logtape/logtape";
import type { Clock } from "../../shared/clock/clock.ts";
import { toProtoScope } from "../../shared/domain/scope.ts";
import { isPactError, PactError } from "../../shared/errors/mod.ts";
import { sha256Hex } from "../../shared/hash.ts";
import {
  ApprovalStatus,
  ConfigEntry,
  EntryType,
  type Identity,
  PrincipalType,
} from "../../shared/proto/gen/pact/config/config.ts";
import type { Journal } from "../core/journal.ts";
import {
  APPROVAL_ID_KEY,
  type ApprovalRecord,
  approvalStatusName,
  EXECUTION_KEY,
  EXPECTED_VERSION_KEY,
} from "../state/approvals.ts";

const log = getLogger(["pact", "journal", "approvals"]);

/** An operation that must wait for a second person. */
export interface DeferredOperation {
  /** The entry as it will be appended once approved, author already stamped. */
  readonly entry: ConfigEntry;
  readonly expectedScopeVersion: number | undefined;
  readonly action: string;
  readonly vclusterId: string;
  readonly timeoutSeconds: number;
  readonly policyRef: string;
  /**
   * False when the caller acts itself once approved (PolicyService.Evaluate,
   * e.g. an agent's exec): the journal then keeps no operation to run.
   */
  readonly journalRuns?: boolean;
}

/** Where a pending approval landed. */
export interface PendingResult {
  readonly approvalId: string;
  readonly sequence: number;
  readonly expiresAtMs: number;
  readonly duplicate: boolean;
}

/** What a decision produced. */
export interface DecisionResult {
  readonly sequence: number;
  /** Sequence of the approved operation, when it ran. */
  readonly executedSequence: number | undefined;
}

/** What the desk needs. */
export interface ApprovalDeskOptions {
  readonly journal: Journal;
  readonly clock: Clock;
  /** This journal's node id, for the system identity that expires requests. */
  readonly nodeId: string;
  readonly hooks?: { onTransition?(status: string): void };
}

/** Creates, decides, runs and expires approvals. */
export class ApprovalDesk {
  readonly #journal: Journal;
  readonly #clock: Clock;
  readonly #system: Identity;
  readonly #hooks: { onTransition?(status: string): void };
  #ticking: Promise<void> | undefined;

  constructor(options: ApprovalDeskOptions) {
    this.#journal = options.journal;
    this.#clock = options.clock;
    this.#hooks = options.hooks ?? {};
    this.#system = {
      principal: `pact-journal/${options.nodeId}`,
      principalType: PrincipalType.SYSTEM,
      role: "pact-journal",
    };
  }

  /**
   * Records `op` as a PendingApproval. Idempotent: the same request id
   * yields the same approval.
   */
  async request(op: DeferredOperation): Promise<PendingResult> {
    const approvalId = approvalIdOf(op.entry.requestId);
    const expiresAtMs = this.#clock.now() + op.timeoutSeconds * 1000;
    const entry = ConfigEntry.fromPartial({
      entryType: EntryType.PENDING_APPROVAL,
      scope: toProtoScope({ kind: "vcluster", id: op.vclusterId }),
      author: op.entry.author,
      policyRef: op.policyRef,
      message: op.entry.message,
      requestId: op.entry.requestId === "" ? "" : `approval:${op.entry.requestId}`,
      metadata: op.expectedScopeVersion === undefined
        ? {}
        : { [EXPECTED_VERSION_KEY]: String(op.expectedScopeVersion) },
      payload: {
        $case: "approval",
        value: {
          approvalId,
          action: op.action,
          description: op.entry.message,
          vclusterId: op.vclusterId,
          expiresAt: new Date(expiresAtMs),
          operation: op.journalRuns === false
            ? new Uint8Array()
            : ConfigEntry.encode(op.entry).finish(),
        },
      },
    });
    const result = await this.#journal.append({ entry });
    const record = this.#journal.state.approvals.get(approvalId);
    if (!result.duplicate) this.#hooks.onTransition?.("pending");
    return {
      approvalId,
      sequence: result.sequence,
      expiresAtMs: record?.expiresAtMs ?? expiresAtMs,
      duplicate: result.duplicate,
    };
  }

  /**
   * Records `approver`'s decision on a pending approval and, when approved,
   * runs the deferred operation. The caller has authorized the approver.
   */
  async decide(
    approver: Identity,
    approvalId: string,
    status: ApprovalStatus.APPROVED | ApprovalStatus.REJECTED,
    reason: string,
  ): Promise<DecisionResult> {
    const record = this.#journal.state.approvals.get(approvalId);
    if (!record) throw new PactError("NOT_FOUND", `Approval ${approvalId} not found`);
    if (record.status !== ApprovalStatus.PENDING) {
      const by = record.approver ? ` by ${record.approver.principal}` : "";
      throw new PactError(
        "VALIDATION",
        `Approval ${approvalId} is already ${approvalStatusName(record.status)}${by}`,
      );
    }
    if (record.status === ApprovalStatus.PENDING && record.expiresAtMs <= this.#clock.now()) {
      await this.#expire(record);
      throw new PactError(
        "POLICY_DENIED",
        `Approval ${approvalId} expired at ${
          new Date(record.expiresAtMs).toISOString()
        }: the request must be submitted again`,
      );
    }
    if (status === ApprovalStatus.APPROVED && approver.principal === record.requester.principal) {
      throw new PactError(
        "POLICY_DENIED",
        `${approver.principal} cannot approve their own request ${approvalId}: a second person must approve`,
      );
    }
    const decision = await this.#journal.append({
      entry: this.#decisionEntry(record, approver, status, reason, ""),
    });
    this.#hooks.onTransition?.(status === ApprovalStatus.APPROVED ? "approved" : "rejected");
    if (status !== ApprovalStatus.APPROVED) {
      return { sequence: decision.sequence, executedSequence: undefined };
    }
    const executed = await this.#execute(this.#journal.state.approvals.get(approvalId) ?? record);
    return { sequence: decision.sequence, executedSequence: executed };
  }

  /**
   * One round of the journal-side timer: expires pending approvals past
   * their time and runs approved operations a crash left unrun. Call only
   * on a writing journal; a race with another journal is harmless.
   */
  tick(): Promise<void> {
    this.#ticking ??= this.#tick().finally(() => (this.#ticking = undefined));
    return this.#ticking;
  }

  /** Runs `tick` every `intervalMs` while `isWriter()` says so; returns a stop function. */
  start(intervalMs: number, isWriter: () => boolean): () => void {
    const timer = setInterval(() => {
      if (isWriter()) {
        this.tick().catch((error) => log.error("Approval timer failed: {error}", { error }));
      }
    }, intervalMs);
    Deno.unrefTimer(timer);
    return () => clearInterval(timer);
  }

  async #tick(): Promise<void> {
    const now = this.#clock.now();
    for (const record of this.#journal.state.approvals.values()) {
      if (record.status === ApprovalStatus.PENDING && record.expiresAtMs <= now) {
        await this.#expire(record);
      } else if (isUnrun(record)) {
        await this.#execute(record).catch((error) =>
          log.warn("Approved operation {id} not run yet: {error}", {
            id: record.approvalId,
            error: (error as Error).message,
          })
        );
      }
    }
  }

  async #expire(record: ApprovalRecord): Promise<void> {
    try {
      await this.#journal.append({
        entry: this.#decisionEntry(
          record,
          this.#system,
          ApprovalStatus.EXPIRED,
          `not decided within ${Math.round((record.expiresAtMs - record.createdAtMs) / 1000)} s`,
          "",
        ),
      });
      this.#hooks.onTransition?.("expired");
      log.info("Approval {id} expired", { id: record.approvalId });
    } catch (err) {
      // Another journal or an approver decided first: nothing to do.
      if (!isPactError(err, "VALIDATION", "CONFLICT")) throw err;
    }
  }

  /** Appends the approved operation; records a permanent failure so that nobody retries it. */
  async #execute(record: ApprovalRecord): Promise<number | undefined> {
    if (!isUnrun(record)) return record.executedSequence;
    const op = ConfigEntry.decode(record.operation);
    try {
      const result = await this.#journal.append({
        entry: {
          ...op,
          policyRef: `approval:${record.approvalId}`,
          metadata: { ...op.metadata, [APPROVAL_ID_KEY]: record.approvalId },
        },
        expectedScopeVersion: record.expectedScopeVersion,
      });
      return result.sequence;
    } catch (err) {
      if (!isPactError(err) || err.code === "UNAVAILABLE" || err.code === "RESOURCE_EXHAUSTED") {
        throw err;
      }
      const current = this.#journal.state.approvals.get(record.approvalId);
      if (current && isUnrun(current)) {
        await this.#journal.append({
          entry: this.#decisionEntry(
            current,
            this.#system,
            ApprovalStatus.APPROVED,
            err.message,
            "failed",
          ),
        }).catch(() => {});
      }
      throw new PactError(
        err.code,
        `Approved ${record.approvalId}, but its operation could not run: ${err.message}`,
      );
    }
  }

  #decisionEntry(
    record: ApprovalRecord,
    author: Identity,
    status: ApprovalStatus,
    reason: string,
    execution: "" | "failed",
  ): ConfigEntry {
    const tag = execution === "failed" ? "failed" : statusTag(status);
    return ConfigEntry.fromPartial({
      entryType: EntryType.APPROVAL_DECISION,
      scope: toProtoScope({ kind: "vcluster", id: record.vclusterId }),
      author,
      parent: record.requestSequence,
      message: reason,
      requestId: `decision:${record.approvalId}:${tag}`,
      metadata: execution === "" ? {} : { [EXECUTION_KEY]: execution },
      payload: {
        $case: "approvalDecision",
        value: { approvalId: record.approvalId, status, reason, executedSequence: undefined },
      },
    });
  }
}

/** True when `record` is approved and its journal operation has not run or failed yet. */
function isUnrun(record: ApprovalRecord): boolean {
  return record.status === ApprovalStatus.APPROVED && record.executedSequence === undefined &&
    record.executionError === undefined && record.operation.length > 0;
}

function statusTag(status: ApprovalStatus): string {
  switch (status) {
    case ApprovalStatus.APPROVED:
      return "approved";
    case ApprovalStatus.REJECTED:
      return "rejected";
    default:
      return "expired";
  }
}

/**
 * `ap-` and 8 hex digits: derived from the operation's request id, so a
 * retried request finds its approval again; random without one.
 */
export function approvalIdOf(requestId: string): string {
  const seed = requestId === "" ? crypto.randomUUID() : requestId;
  return `ap-${sha256Hex(seed).slice(0, 8)}`;
}
