import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { entryTypeName } from "../shared/domain/entry_type.ts";
import type { Journal, JournalHooks } from "./core/journal.ts";
import type { PolicyEngineHooks, PolicyStatus } from "./policy/engine.ts";

/** Raft facts of a quorum journal's etcd member, refreshed in the background. */
export interface RaftFacts {
  readonly leader: boolean;
  readonly hasLeader: boolean;
  readonly term: number;
  readonly index: number;
}

/**
 * The journal's Prometheus metrics. Names follow the reference catalogue
 * (`pact_journal_*`, `pact_raft_*`) so that shipped dashboards and alert
 * rules find them.
 */
export class JournalMetrics {
  readonly registry = new Registry();
  readonly entries = new Counter({
    name: "pact_journal_entries_total",
    help: "Entries appended, by entry type",
    labelNames: ["type"] as const,
    registers: [this.registry],
  });
  readonly batchEntries = new Histogram({
    name: "pact_journal_append_batch_entries",
    help: "Entries written per store append (group commit)",
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [this.registry],
  });
  readonly storeSeconds = new Histogram({
    name: "pact_journal_store_append_seconds",
    help: "Duration of durable store appends",
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly rejections = new Counter({
    name: "pact_journal_append_rejections_total",
    help: "Appends refused, by error code",
    labelNames: ["code"] as const,
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: "pact_auth_failures_total",
    help: "Requests refused because their token was missing or invalid, by reason",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly grpcRequests = new Counter({
    name: "pact_journal_grpc_requests_total",
    help: "gRPC requests handled, by method and status code",
    labelNames: ["method", "code"] as const,
    registers: [this.registry],
  });
  readonly grpcSeconds = new Histogram({
    name: "pact_journal_grpc_request_seconds",
    help: "Duration of unary gRPC requests, by method",
    labelNames: ["method"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly bootStreamsActive = new Gauge({
    name: "pact_journal_boot_streams_active",
    help: "Boot config streams being served",
    registers: [this.registry],
  });
  readonly snapshots = new Counter({
    name: "pact_journal_snapshots_total",
    help: "Snapshots saved",
    registers: [this.registry],
  });
  readonly snapshotFailures = new Counter({
    name: "pact_journal_snapshot_failures_total",
    help: "Snapshots that failed to save",
    registers: [this.registry],
  });
  readonly policyDecisions = new Counter({
    name: "pact_policy_decisions_total",
    help: "Authorization decisions, by outcome (allow, deny, approval) and deciding engine",
    labelNames: ["outcome", "engine"] as const,
    registers: [this.registry],
  });
  readonly policyDecisionSeconds = new Histogram({
    name: "pact_policy_decision_seconds",
    help: "Duration of authorization decisions, by engine (rbac alone or with OPA)",
    labelNames: ["engine"] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 2],
    registers: [this.registry],
  });
  readonly policyDegradedDecisions = new Counter({
    name: "pact_policy_degraded_decisions_total",
    help: "Decisions taken in degraded mode (OPA unreachable), by outcome",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  readonly opaErrors = new Counter({
    name: "pact_policy_opa_errors_total",
    help: "OPA calls that failed, by reason (unreachable, timeout, http_<status>, bad_response)",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly approvalTransitions = new Counter({
    name: "pact_approvals_total",
    help: "Two-person approvals by the status they reached (pending, approved, rejected, expired)",
    labelNames: ["status"] as const,
    registers: [this.registry],
  });

  /** Registers the policy engine's gauges: degraded mode and pending approvals. */
  observePolicy(status: () => PolicyStatus, pendingApprovals: () => number): void {
    new Gauge({
      name: "pact_policy_degraded",
      help: "1 while OPA is unreachable and the journal decides in degraded mode",
      registers: [this.registry],
      collect() {
        this.set(status().degraded ? 1 : 0);
      },
    });
    new Gauge({
      name: "pact_approvals_pending",
      help: "Two-person approvals waiting for a decision",
      registers: [this.registry],
      collect() {
        this.set(pendingApprovals());
      },
    });
  }

  /** Policy engine callbacks that feed these metrics. */
  policyHooks(): PolicyEngineHooks {
    return {
      onDecision: (outcome, engine, seconds) => {
        this.policyDecisions.inc({ outcome, engine });
        this.policyDecisionSeconds.observe({ engine }, seconds);
      },
      onDegradedDecision: (outcome) => this.policyDegradedDecisions.inc({ outcome }),
      onOpaError: (reason) => this.opaErrors.inc({ reason }),
    };
  }

  /** Registers gauges read from the live journal at scrape time. */
  observe(
    journal: Journal,
    info: { nodeId: string; version: string; raft?: () => RaftFacts | undefined },
  ): void {
    new Gauge({
      name: "pact_journal_next_sequence",
      help: "Sequence the next appended entry will get (= entries in the log)",
      registers: [this.registry],
      collect() {
        this.set(journal.state.nextSequence);
      },
    });
    new Gauge({
      name: "pact_raft_log_entries",
      help: "Entries in the journal's log",
      registers: [this.registry],
      collect() {
        this.set(journal.state.nextSequence);
      },
    });
    new Gauge({
      name: "pact_journal_snapshot_sequence",
      help: "Entries covered by the newest local snapshot",
      registers: [this.registry],
      collect() {
        this.set(journal.snapshotSequence);
      },
    });
    new Gauge({
      name: "pact_journal_subscribers",
      help: "Config subscriptions attached (agents and watchers)",
      registers: [this.registry],
      collect() {
        this.set(journal.subscriberCount);
      },
    });
    new Gauge({
      name: "pact_raft_leader",
      help:
        "1 when this journal's etcd member is the Raft leader (always 1 for a standalone journal)",
      registers: [this.registry],
      collect() {
        this.set(info.raft ? (info.raft()?.leader ? 1 : 0) : 1);
      },
    });
    if (info.raft) {
      const raft = info.raft;
      new Gauge({
        name: "pact_raft_term",
        help: "Raft term of the journal's etcd quorum, as last seen",
        registers: [this.registry],
        collect() {
          this.set(raft()?.term ?? 0);
        },
      });
      new Gauge({
        name: "pact_raft_commit_index",
        help: "Raft index of the journal's etcd member, as last seen",
        registers: [this.registry],
        collect() {
          this.set(raft()?.index ?? 0);
        },
      });
      new Gauge({
        name: "pact_raft_has_leader",
        help: "1 when the etcd quorum has a leader (writes possible), as last seen",
        registers: [this.registry],
        collect() {
          this.set(raft()?.hasLeader ? 1 : 0);
        },
      });
    }
    new Gauge({
      name: "pact_journal_info",
      help: "Build and store of this journal (always 1)",
      labelNames: ["version", "store", "node_id"] as const,
      registers: [this.registry],
      collect() {
        this.set({ version: info.version, store: journal.storeKind, node_id: info.nodeId }, 1);
      },
    });
    new Gauge({
      name: "process_resident_memory_bytes",
      help: "Resident memory of the journal process",
      registers: [this.registry],
      collect() {
        this.set(Deno.memoryUsage().rss);
      },
    });
    new Gauge({
      name: "pact_process_memory_bytes",
      help: "Memory of the journal process by kind: V8 heap used and total, external " +
        "(buffers held outside the heap), resident",
      labelNames: ["kind"] as const,
      registers: [this.registry],
      collect() {
        const usage = Deno.memoryUsage();
        this.set({ kind: "heap_used" }, usage.heapUsed);
        this.set({ kind: "heap_total" }, usage.heapTotal);
        this.set({ kind: "external" }, usage.external);
        this.set({ kind: "rss" }, usage.rss);
      },
    });
  }

  /** Journal callbacks that feed these metrics. */
  hooks(): JournalHooks {
    return {
      onCommitted: (entries, storeMs) => {
        this.batchEntries.observe(entries.length);
        this.storeSeconds.observe(storeMs / 1000);
        for (const entry of entries) this.entries.inc({ type: entryTypeName(entry.entryType) });
      },
      onRejected: (error) => this.rejections.inc({ code: error.code }),
      onSnapshot: () => this.snapshots.inc(),
      onSnapshotFailed: () => this.snapshotFailures.inc(),
    };
  }
}
