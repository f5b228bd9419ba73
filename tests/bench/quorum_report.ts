/** The quorum part of the benchmark's tables and ratios. */
import type { BootRun } from "./boot_storm.ts";
import type { LocalResults } from "./report.ts";
import type { QuorumResults } from "./quorum_bench.ts";
import type { SteadyLoad } from "./quorum_failover.ts";
import type { QuorumAppendResult } from "./quorum_writes.ts";
import { fixed, table } from "./table.ts";
import type { PhaseResult } from "./stats.ts";

/** Throughput ratios of the quorum phases. */
export interface QuorumRatios {
  /** Journal on the quorum, one writer / raw etcd put, one at a time. */
  readonly sequentialVsRawEtcd?: number;
  /** 64 writers over the 3 journals / 64 concurrent raw etcd puts (goal >= 0.7). */
  readonly concurrentVsRawEtcd?: number;
  /** 64 writers all on one journal / 64 concurrent raw etcd puts. */
  readonly concurrentOneJournalVsRawEtcd?: number;
  /** Quorum journal, 1 writer / single-node (SQLite) journal, 1 client (same run). */
  readonly sequentialVsSingleNode?: number;
  /** Quorum journal, 64 writers over 3 journals / single-node journal, 64 connections. */
  readonly concurrentVsSingleNode?: number;
  /** Boots per second, journal / etcd serving the same bytes, per agent count and spread. */
  readonly bootVsEtcd?: readonly {
    readonly agents: number;
    readonly servers: number;
    readonly ratio: number;
  }[];
}

/** The ratios the report quotes for the quorum; `local` adds the single-node comparison. */
export function quorumRatios(q: QuorumResults, local?: LocalResults): QuorumRatios {
  const w = q.writes;
  const boot = q.boot?.runs.flatMap((run) => {
    if (run.server !== "journal" || !run.withNodeId) return [];
    const etcd = q.boot!.runs.find((e) =>
      e.server === "etcd" && e.agents === run.agents && e.servers === run.servers
    );
    return etcd
      ? [{
        agents: run.agents,
        servers: run.servers,
        ratio: run.bootsPerSecond / etcd.bootsPerSecond,
      }]
      : [];
  });
  return {
    ...(w
      ? {
        sequentialVsRawEtcd: w.journalSequential.opsPerSecond / w.rawSequential.opsPerSecond,
        concurrentVsRawEtcd: w.journalConcurrent.opsPerSecond / w.rawConcurrent.opsPerSecond,
        concurrentOneJournalVsRawEtcd: w.journalConcurrentOneJournal.opsPerSecond /
          w.rawConcurrent.opsPerSecond,
      }
      : {}),
    ...(w && local
      ? {
        sequentialVsSingleNode: w.journalSequential.opsPerSecond / local.sequential.opsPerSecond,
        concurrentVsSingleNode: w.journalConcurrent.opsPerSecond / local.concurrent.opsPerSecond,
      }
      : {}),
    ...(boot && boot.length > 0 ? { bootVsEtcd: boot } : {}),
  };
}

/** Renders the quorum results as plain-text tables. */
export function renderQuorum(q: QuorumResults, local?: LocalResults): string {
  const parts = [
    `Quorum: ${q.members} journals, each with its etcd member (start ${seconds(q.startMs)} s, ` +
    `graceful stop ${seconds(q.stopMs)} s)`,
  ];
  const x = quorumRatios(q, local);
  const w = q.writes;
  if (w) {
    parts.push(
      "",
      `Quorum writes (etcd value ${w.valueBytes} B per entry)`,
      table(
        [
          "phase",
          "ops",
          "ops/s",
          "p50 ms",
          "p99 ms",
          "mean batch",
          "srv ms",
          "store ms",
          "etcd txns",
          "conflicts",
        ],
        [
          quorumRow("journal quorum, 1 writer", w.journalSequential),
          quorumRow(
            `journal quorum, ${w.journalConcurrent.clients} writers over ${w.journalConcurrent.journals} journals`,
            w.journalConcurrent,
          ),
          quorumRow(
            `journal quorum, ${w.journalConcurrentOneJournal.clients} writers on 1 journal`,
            w.journalConcurrentOneJournal,
          ),
          rawRow("raw etcd put, 1 at a time", w.rawSequential),
          rawRow(`raw etcd put, ${w.rawConcurrent.clients} concurrent`, w.rawConcurrent),
        ],
      ),
      "(srv/store ms: journal /metrics; etcd txns: etcd_mvcc_txn_total over the phase, warm-up",
      " included; conflicts: txns that lost the race for the head = etcd txns - store writes)",
      "",
      "Quorum ratios (throughput)",
      table(["ratio", "value"], [
        ["journal 1 writer / raw etcd 1 at a time", times(x.sequentialVsRawEtcd)],
        [
          "journal 64 writers over 3 journals / raw etcd 64 concurrent (goal >= 0.7)",
          times(x.concurrentVsRawEtcd),
        ],
        [
          "journal 64 writers on 1 journal / raw etcd 64 concurrent",
          times(x.concurrentOneJournalVsRawEtcd),
        ],
        ...(x.sequentialVsSingleNode === undefined ? [] : [
          [
            "journal quorum 1 writer / single-node journal sequential",
            times(x.sequentialVsSingleNode),
          ],
          [
            "journal quorum 64 over 3 / single-node journal 64 connections",
            times(x.concurrentVsSingleNode),
          ],
        ]),
      ]),
    );
  }
  if (q.boot) {
    const o = q.boot.overlay;
    parts.push(
      "",
      `Boot storm (overlay ${o.contentBytes} B encoded, ${o.compressedBytes} B zstd in ${o.chunks} ` +
        `chunk(s); log of ${q.boot.logEntries} entries; targets: 100% ok, p99 < 30 s, RSS < 1024 MiB)`,
      table(
        [
          "server",
          "agents",
          "conns",
          "ok %",
          "time s",
          "boots/s",
          "p50 s",
          "p99 s",
          "max s",
          "RSS MiB before/peak/after",
          "idle s",
          "failures",
        ],
        q.boot.runs.map(bootRow),
      ),
      "(time to config from the common start; RSS: VmRSS of each serving process, before the",
      " storm, its peak, and once idle again;",
      " idle s: after the last agent finished or gave up, until no journal had a boot stream open)",
      "",
      "One boot alone (median; overlay and node delta come from the journal's memory)",
      table(
        ["log entries", "boots", "with node id ms", "without node id ms"],
        q.boot.latency.map((l) => [
          String(l.logEntries),
          String(l.samples),
          fixed(l.withNodeIdMs, 0),
          fixed(l.overlayOnlyMs, 0),
        ]),
      ),
    );
    if (x.bootVsEtcd) {
      parts.push(
        "",
        "Boot ratios (boots/s, journal / etcd serving the same bytes)",
        table(
          ["agents", "servers", "value"],
          x.bootVsEtcd.map((b) => [String(b.agents), String(b.servers), times(b.ratio)]),
        ),
      );
    }
  }
  const f = q.failover;
  if (f) {
    const fails = Object.entries(f.failedAppends).map(([k, v]) => `${v} ${k}`).join(", ") || "none";
    const resubs = Object.entries(f.resubscribes).map(([k, v]) => `${v} ${k}`).join(", ") ||
      "none";
    parts.push(
      "",
      `Failover: SIGKILL of the etcd leader (member ${f.killedMember}) under ${f.writers} writers + ` +
        `a probe append every ${f.probeIntervalMs} ms, ${f.subscribers} subscribers`,
      table(["measure", "value"], [
        [
          "steady load, no subscribers yet: appends/s, p50 / p99",
          steady(f.steadyWithoutSubscribers),
        ],
        [
          `steady load, ${f.subscribers} subscribers: appends/s, p50 / p99`,
          steady(f.steadyWithSubscribers),
        ],
        [
          "before the kill: marker sent -> acked / all subscribers have it",
          `${ms(f.fanOutBefore.ackMs)} / ${
            ms(f.fanOutBefore.allMs)
          } (via journal ${f.fanOutBefore.journal})`,
        ],
        [
          "kill -> first successful append sent after the kill",
          `${ms(f.firstAppendAfterKillMs)} (journal ${f.firstAppendJournal})`,
        ],
        [
          "kill -> first successful append, per journal",
          Object.entries(f.firstAppendByJournalMs)
            .map(([id, t]) => `${id}: ${t === null ? "none" : ms(t)}`).join(", "),
        ],
        ["longest gap between append acks", ms(f.writeStallMs)],
        [
          "kill -> marker acked (written via the first journal to answer)",
          `${ms(f.markerAckAfterKillMs)} (journal ${f.fanOutAfter.journal})`,
        ],
        [
          `kill -> all ${f.subscribers} subscribers have the marker`,
          `${ms(f.allSubscribersAfterKillMs)} (${f.fanOutAfter.received} received)`,
        ],
        [
          "marker sent -> subscribers: p50 / p90 / max",
          `${ms(f.fanOutAfter.latencyMs.p50)} / ${ms(f.fanOutAfter.latencyMs.p90)} / ${
            ms(f.fanOutAfter.latencyMs.max)
          }`,
        ],
        [
          "marker sent -> slowest subscriber, by journal",
          Object.entries(f.fanOutAfter.maxByJournalMs).map(([id, t]) => `${id}: ${ms(t)}`)
            .join(", "),
        ],
        ["failed appends", fails],
        ["resubscriptions", resubs],
        [
          "kill -> killed member healthy again",
          f.memberBackAfterKillMs === undefined ? "not within 60 s" : ms(f.memberBackAfterKillMs),
        ],
        ["new etcd leader", `member ${f.leaderAfter || "?"}`],
      ]),
    );
  }
  return parts.join("\n");
}

function quorumRow(label: string, p: QuorumAppendResult): string[] {
  const conflicts = p.etcd ? String(p.etcd.txns - p.storeWrites) : "-";
  return [
    label,
    String(p.ops),
    fixed(p.opsPerSecond, 0),
    fixed(p.latencyMs.p50),
    fixed(p.latencyMs.p99),
    fixed(p.meanBatchEntries),
    fixed(p.meanServerAppendMs),
    fixed(p.meanStoreWriteMs),
    p.etcd ? String(p.etcd.txns) : "-",
    conflicts,
  ];
}

function rawRow(label: string, p: PhaseResult): string[] {
  return [
    label,
    String(p.ops),
    fixed(p.opsPerSecond, 0),
    fixed(p.latencyMs.p50),
    fixed(p.latencyMs.p99),
    "1",
    "-",
    "-",
    "-",
    "-",
  ];
}

function bootRow(run: BootRun): string[] {
  const t = run.timeToConfigMs;
  const failures = Object.entries(run.failures).reduce((sum, [, n]) => sum + n, 0);
  return [
    `${run.server} x${run.servers}${run.withNodeId ? "" : " (no node id)"}`,
    String(run.agents),
    String(run.connections),
    fixed(run.successRate * 100, 1),
    seconds(run.elapsedMs),
    fixed(run.bootsPerSecond, 0),
    t ? seconds(t.p50) : "-",
    t ? seconds(t.p99) : "-",
    t ? seconds(t.max) : "-",
    run.rssMiB.map((r) => `${fixed(r.before, 0)}/${fixed(r.peak, 0)}/${fixed(r.after, 0)}`).join(
      " ",
    ),
    run.server === "etcd" ? "-" : run.drainMs === undefined ? ">30" : seconds(run.drainMs),
    failures === 0 ? "0" : `${failures} (${topReason(run.failures)})`,
  ];
}

/** The most frequent failure reason, shortened. */
function topReason(failures: Readonly<Record<string, number>>): string {
  const [reason] = Object.entries(failures).sort((a, b) => b[1] - a[1])[0] ?? ["?"];
  return reason.length > 40 ? `${reason.slice(0, 40)}...` : reason;
}

function steady(load: SteadyLoad): string {
  return `${fixed(load.appendsPerSecond, 0)}/s, ${ms(load.latencyMs.p50)} / ${
    ms(load.latencyMs.p99)
  }`;
}

function ms(value: number): string {
  return `${fixed(value, 0)} ms`;
}

function seconds(valueMs: number): string {
  return fixed(valueMs / 1000, 1);
}

function times(value: number | undefined): string {
  return value === undefined ? "-" : `${fixed(value)}x`;
}
