/** Summary statistics shared by every benchmark phase. */

/** Throughput and latency of one measured phase. */
export interface PhaseResult {
  /** Operations completed in the measured window. */
  readonly ops: number;
  readonly elapsedMs: number;
  readonly opsPerSecond: number;
  readonly latencyMs: Percentiles;
}

/** Latency percentiles, in milliseconds. */
export interface Percentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly mean: number;
  readonly max: number;
}

/** Nearest-rank percentile (`q` in 0..1) of an ascending array. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new Error("percentile of an empty sample");
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

/** Percentiles of `samples` (any order). */
export function percentiles(samples: readonly number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((total, x) => total + x, 0);
  return {
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    mean: sum / sorted.length,
    max: sorted[sorted.length - 1]!,
  };
}

/** A phase result from `ops` operations in `elapsedMs` with the given per-op latencies. */
export function phaseResult(ops: number, elapsedMs: number, latencies: number[]): PhaseResult {
  return {
    ops,
    elapsedMs,
    opsPerSecond: ops / (elapsedMs / 1000),
    latencyMs: percentiles(latencies),
  };
}
