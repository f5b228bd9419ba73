/**
 * Raw `node:sqlite` inserts with the journal store's schema and durability
 * settings: the floor under any journal append, since every acknowledged
 * append waits for one such fsynced transaction.
 */
import { DatabaseSync } from "node:sqlite";
import { SQLITE_INSERT, SQLITE_SCHEMA } from "../../journal/store/sqlite_store.ts";
import { type PhaseResult, phaseResult } from "./stats.ts";

/** Results of the raw SQLite phases. */
export interface SqliteResults {
  readonly payloadBytes: number;
  /** One row per transaction; latency per insert (= per transaction). */
  readonly singleRow: PhaseResult;
  /** `batchRows` rows per transaction; ops are rows, latency is per transaction. */
  readonly batched: PhaseResult & { readonly batchRows: number };
}

/** Runs both SQLite phases in fresh database files under `dir`. */
export function runSqliteBaseline(
  dir: string,
  payload: Uint8Array,
  rows: number,
  batchedRows: number,
  batchRows: number,
): SqliteResults {
  return {
    payloadBytes: payload.length,
    singleRow: insertPhase(`${dir}/single.db`, payload, rows, 1),
    batched: { ...insertPhase(`${dir}/batched.db`, payload, batchedRows, batchRows), batchRows },
  };
}

/** Inserts `rows` rows, `perTx` per BEGIN IMMEDIATE ... COMMIT, timing each transaction. */
function insertPhase(path: string, payload: Uint8Array, rows: number, perTx: number): PhaseResult {
  const db = new DatabaseSync(path);
  try {
    db.exec(SQLITE_SCHEMA);
    const insert = db.prepare(SQLITE_INSERT);
    const latencies: number[] = [];
    let seq = 0;
    const started = performance.now();
    while (seq < rows) {
      const txStarted = performance.now();
      db.exec("BEGIN IMMEDIATE");
      for (const end = Math.min(rows, seq + perTx); seq < end; seq++) {
        insert.run(seq, Date.now(), 1, `node:bench-node-${seq % 64}`, payload);
      }
      db.exec("COMMIT");
      latencies.push(performance.now() - txStarted);
    }
    return phaseResult(rows, performance.now() - started, latencies);
  } finally {
    db.close();
  }
}
