import { DatabaseSync, type StatementSync } from "node:sqlite";
import { PactError } from "../../shared/errors/mod.ts";
import {
  assertConsecutive,
  type EntryRecord,
  type JournalStore,
  type ReadQuery,
  StoreConflictError,
} from "./port.ts";

const SCHEMA_VERSION = "1";

/**
 * The store's settings and schema: WAL with `synchronous=FULL` (an append
 * is fsynced before it resolves). Exported so the benchmark's raw SQLite
 * floor writes exactly what the store writes.
 */
export const SQLITE_SCHEMA = `
  PRAGMA journal_mode = WAL;
  PRAGMA synchronous = FULL;
  PRAGMA busy_timeout = 5000;
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
  CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY,
    ts_ms INTEGER NOT NULL,
    entry_type INTEGER NOT NULL,
    scope TEXT NOT NULL,
    data BLOB NOT NULL
  ) STRICT;
  CREATE INDEX IF NOT EXISTS entries_by_scope ON entries (scope, seq);
`;

/** The one statement that writes an entry row. */
export const SQLITE_INSERT =
  "INSERT INTO entries (seq, ts_ms, entry_type, scope, data) VALUES (?, ?, ?, ?, ?)";

/**
 * The embedded store: one SQLite file in WAL mode with `synchronous=FULL`,
 * so an append is on disk (fsynced) before it resolves.
 */
export class SqliteStore implements JournalStore {
  readonly kind = "sqlite";
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #maxSeq: StatementSync;
  #closed = false;

  /** Opens (creating if needed) the store at `path`. */
  constructor(path: string) {
    this.#db = new DatabaseSync(path);
    this.#db.exec(SQLITE_SCHEMA);
    this.#checkSchema();
    this.#insert = this.#db.prepare(SQLITE_INSERT);
    this.#maxSeq = this.#db.prepare("SELECT max(seq) AS seq FROM entries");
  }

  nextSequence(): Promise<number> {
    return Promise.try(() => this.#next());
  }

  append(records: readonly EntryRecord[]): Promise<void> {
    return Promise.try(() => this.#appendNow(records));
  }

  read(query: ReadQuery): Promise<EntryRecord[]> {
    return Promise.try(() => this.#readNow(query));
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#db.close();
    }
    return Promise.resolve();
  }

  #appendNow(records: readonly EntryRecord[]): void {
    if (records.length === 0) return;
    assertConsecutive(records);
    // BEGIN IMMEDIATE takes the write lock first, so the head check and the
    // inserts are one atomic step even against another process.
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const next = this.#next();
      if (records[0]!.sequence !== next) {
        throw new StoreConflictError(records[0]!.sequence, next);
      }
      for (const r of records) {
        this.#insert.run(r.sequence, r.timestampMs, r.entryType, r.scope, r.data);
      }
      this.#db.exec("COMMIT");
    } catch (err) {
      this.#db.exec("ROLLBACK");
      throw err;
    }
  }

  #readNow(query: ReadQuery): EntryRecord[] {
    const where: string[] = [];
    const params: (number | string)[] = [];
    if (query.fromSequence !== undefined) {
      where.push("seq >= ?");
      params.push(query.fromSequence);
    }
    if (query.toSequence !== undefined) {
      where.push("seq <= ?");
      params.push(query.toSequence);
    }
    if (query.scope !== undefined) {
      where.push("scope = ?");
      params.push(query.scope);
    }
    if (query.entryTypes !== undefined && query.entryTypes.length > 0) {
      where.push(`entry_type IN (${query.entryTypes.map(() => "?").join(", ")})`);
      params.push(...query.entryTypes);
    }
    const sql = "SELECT seq, ts_ms, entry_type, scope, data FROM entries" +
      (where.length > 0 ? ` WHERE ${where.join(" AND ")}` : "") +
      ` ORDER BY seq ${query.newestFirst ? "DESC" : "ASC"} LIMIT ?`;
    params.push(Math.max(0, Math.floor(query.limit)));
    return this.#db.prepare(sql).all(...params).map(toRecord);
  }

  #next(): number {
    const row = this.#maxSeq.get() as { seq: number | null } | undefined;
    return row?.seq === null || row?.seq === undefined ? 0 : row.seq + 1;
  }

  #checkSchema(): void {
    const row = this.#db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as
      | { value: string }
      | undefined;
    if (row === undefined) {
      this.#db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?)").run(
        SCHEMA_VERSION,
      );
    } else if (row.value !== SCHEMA_VERSION) {
      throw new PactError(
        "CONFIG",
        `Cannot open journal store: schema version is ${row.value}, expected ${SCHEMA_VERSION}`,
      );
    }
  }
}

function toRecord(row: Record<string, unknown>): EntryRecord {
  return {
    sequence: row["seq"] as number,
    timestampMs: row["ts_ms"] as number,
    entryType: row["entry_type"] as number,
    scope: row["scope"] as string,
    data: row["data"] as Uint8Array,
  };
}
