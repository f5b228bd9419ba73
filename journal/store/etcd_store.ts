import { Buffer } from "node:buffer";
import type { Etcd3, IKeyValue, IRangeRequest, IRequestOp, ITxnResponse } from "etcd3";
import { PactError } from "../../shared/errors/mod.ts";
import {
  connectEtcd,
  delay,
  type EtcdConnectOptions,
  etcdFailure,
  isBrokenCircuit,
  isTooLargeResponse,
  isTransientEtcdError,
} from "./_etcd_client.ts";
import {
  decodeRecord,
  decodeRecordHeader,
  encodeRecordValue,
  EtcdKeys,
  sameBytes,
  SEQUENCE_MAX,
} from "./_etcd_codec.ts";
import { watchEtcdHead } from "./_etcd_head_watch.ts";
import {
  assertConsecutive,
  type EntryRecord,
  type JournalStore,
  type ReadQuery,
  StoreConflictError,
  type StoreLimits,
} from "./port.ts";

export { connectEtcd, type EtcdConnectOptions, type EtcdTls } from "./_etcd_client.ts";

/** What an etcd server accepts in one request (its command-line flags). */
export interface EtcdServerLimits {
  /** `--max-txn-ops`: operations in one transaction branch. */
  readonly maxTxnOps: number;
  /** `--max-request-bytes`: size of one request. */
  readonly maxRequestBytes: number;
}

/** etcd's defaults (`--max-txn-ops=128 --max-request-bytes=1572864`). */
export const ETCD_DEFAULT_SERVER_LIMITS: EtcdServerLimits = {
  maxTxnOps: 128,
  maxRequestBytes: 1_572_864,
};

/**
 * The flags pact's managed etcd member runs with
 * (`--max-txn-ops=1024 --max-request-bytes=8388608`); a store over it
 * batches up to 1023 entries and 7 MiB of entry data per append.
 */
export const MANAGED_ETCD_SERVER_LIMITS: EtcdServerLimits = {
  maxTxnOps: 1024,
  maxRequestBytes: 8 * 1024 * 1024,
};

/**
 * Batch limits that fit `server`: one transaction operation is the head,
 * and the data leaves room (1/8 of the request, at least 512 KiB) for keys,
 * headers and scopes. Defaults: 127 entries, 1 MiB; managed: 1023, 7 MiB.
 */
export function etcdStoreLimits(server: EtcdServerLimits): StoreLimits {
  const marginBytes = Math.max(512 * 1024, Math.floor(server.maxRequestBytes / 8));
  return {
    maxBatchEntries: server.maxTxnOps - 1,
    maxBatchBytes: server.maxRequestBytes - marginBytes,
  };
}

/** Settings of an EtcdStore. */
export interface EtcdStoreOptions {
  /** Prefix of every key this store writes (default `pact/journal/`). */
  readonly prefix?: string;
  /** Limits of the etcd members (default etcd's own defaults). */
  readonly server?: EtcdServerLimits;
  /** Batch limits the journal splits to (default derived from `server`). */
  readonly limits?: StoreLimits;
  /** How long one operation keeps retrying transient failures (default 10 s). */
  readonly operationTimeoutMs?: number;
  /** Deadline of each etcd call (default 5 s). */
  readonly callTimeoutMs?: number;
  /** Keys per page of a filtered read (default 500). */
  readonly readPageKeys?: number;
  /**
   * How often `watchHead` also reads the head, in case a watch stalls
   * silently (default 10 s; 0 = never).
   */
  readonly headPollMs?: number;
  /** How long `watchHead` may stay disconnected before it reports failure (default 60 s). */
  readonly watchGiveUpMs?: number;
  /** Endpoints named in error messages when the store is given a client. */
  readonly endpoints?: readonly string[];
}

/** Settings of `EtcdStore.open`: where etcd is, plus the store's settings. */
export type EtcdStoreOpenOptions = EtcdConnectOptions & Omit<EtcdStoreOptions, "endpoints">;

/**
 * The HA journal store: the log lives in an etcd cluster that several
 * journal replicas share.
 *
 * Keys: `<prefix>log/<sequence, 16 digits>` holds a record (see
 * `_etcd_codec.ts`), `<prefix>head` the next sequence as decimal text. An
 * append is one transaction that compares the head and puts the records
 * and the new head, so the log stays gap-free with any number of writers.
 * Reads are linearizable (etcd's default).
 *
 * Limits: etcd refuses a transaction of more than `--max-txn-ops`
 * operations or `--max-request-bytes` bytes, so `limits` (which the
 * journal splits its batches to) follow `options.server`. The default is
 * etcd's own flags (127 entries, 1 MiB); pact's managed member runs with
 * larger ones, so a store over it passes
 * `server: MANAGED_ETCD_SERVER_LIMITS` (1023 entries, 7 MiB). A larger
 * append throws RangeError.
 *
 * Transient failures (member down, leader change, timeout) are retried
 * for `operationTimeoutMs`, then surface as PactError UNAVAILABLE naming
 * the endpoints. When a retried append finds its own records already in
 * place (the first attempt committed but its answer was lost), it
 * succeeds: a retry never turns a committed write into a conflict.
 */
export class EtcdStore implements JournalStore {
  readonly kind = "etcd";
  readonly limits: StoreLimits;
  readonly #client: Etcd3;
  readonly #ownsClient: boolean;
  readonly #keys: EtcdKeys;
  readonly #maxRequestBytes: number;
  readonly #operationTimeoutMs: number;
  readonly #callTimeoutMs: number;
  readonly #readPageKeys: number;
  readonly #headPollMs: number;
  readonly #watchGiveUpMs: number;
  readonly #endpointsText: string;
  readonly #stopWatches = new Set<() => void>();
  #closed = false;

  /**
   * A store over `client`. The caller keeps and closes the client, unless
   * `ownsClient` (as `open` does) makes `close()` close it too.
   */
  constructor(client: Etcd3, options: EtcdStoreOptions = {}, ownsClient = false) {
    const server = options.server ?? ETCD_DEFAULT_SERVER_LIMITS;
    this.limits = options.limits ?? etcdStoreLimits(server);
    if (this.limits.maxBatchEntries > server.maxTxnOps - 1 || this.limits.maxBatchEntries < 1) {
      throw new RangeError(
        `maxBatchEntries must be from 1 to ${server.maxTxnOps - 1}: ${this.limits.maxBatchEntries}`,
      );
    }
    if (this.limits.maxBatchBytes >= server.maxRequestBytes || this.limits.maxBatchBytes < 1) {
      throw new RangeError(
        `maxBatchBytes must be below the server's ${server.maxRequestBytes}: ${this.limits.maxBatchBytes}`,
      );
    }
    this.#client = client;
    this.#ownsClient = ownsClient;
    this.#keys = new EtcdKeys(options.prefix ?? "pact/journal/");
    this.#maxRequestBytes = server.maxRequestBytes;
    this.#operationTimeoutMs = options.operationTimeoutMs ?? 10_000;
    this.#callTimeoutMs = options.callTimeoutMs ?? 5_000;
    this.#readPageKeys = options.readPageKeys ?? 500;
    this.#headPollMs = options.headPollMs ?? 10_000;
    this.#watchGiveUpMs = options.watchGiveUpMs ?? 60_000;
    this.#endpointsText = (options.endpoints ?? []).join(", ");
  }

  /**
   * Connects to `options.endpoints` and checks that etcd answers; throws
   * PactError UNAVAILABLE (naming the endpoints) when it does not within
   * `operationTimeoutMs`. The store closes the client it made.
   */
  static async open(options: EtcdStoreOpenOptions): Promise<EtcdStore> {
    const client = connectEtcd(options);
    const store = new EtcdStore(client, options, true);
    try {
      await store.nextSequence();
      return store;
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  nextSequence(): Promise<number> {
    return this.#retrying("read the journal head", async (deadline) => {
      const res = await this.#client.kv.range({ key: Buffer.from(this.#keys.head) }, { deadline });
      return parseHead(res.kvs[0]);
    });
  }

  async append(records: readonly EntryRecord[]): Promise<void> {
    if (records.length === 0) return;
    assertConsecutive(records);
    const request = this.#appendRequest(records);
    await this.#retrying("append to the journal", async (deadline, attempt) => {
      const res = await this.#client.kv.txn(request.txn, { deadline });
      if (res.succeeded) return;
      // Only a retry can meet its own earlier, committed attempt; on the
      // first attempt a failed compare is always a conflict.
      if (attempt === 1 || !this.#isOwnCommit(res, records, request.values)) {
        throw new StoreConflictError(
          records[0]!.sequence,
          parseHead(res.responses[0]?.response_range?.kvs[0]),
        );
      }
    });
  }

  async read(query: ReadQuery): Promise<EntryRecord[]> {
    const limit = Math.max(0, Math.floor(query.limit));
    const from = Math.max(0, Math.ceil(query.fromSequence ?? 0));
    const to = query.toSequence === undefined || query.toSequence >= SEQUENCE_MAX
      ? undefined
      : Math.floor(query.toSequence);
    if (limit === 0 || from > SEQUENCE_MAX || (to !== undefined && to < from)) return [];
    const types = query.entryTypes !== undefined && query.entryTypes.length > 0
      ? new Set(query.entryTypes)
      : undefined;
    const filtered = query.scope !== undefined || types !== undefined;
    const newestFirst = query.newestFirst === true;
    const found: EntryRecord[] = [];
    let low = this.#keys.log(from);
    let high = to === undefined ? this.#keys.logEnd : this.#keys.log(to + 1);
    let pageKeys = this.#readPageKeys;
    while (found.length < limit) {
      const want = filtered ? pageKeys : Math.min(pageKeys, limit - found.length);
      const page = await this.#readPage(low, high, want, newestFirst).catch((err) => {
        // A page too large for the client's receive limit: halve it.
        if (want > 1 && err instanceof PactError && isTooLargeResponse(err.cause)) return undefined;
        throw err;
      });
      if (page === undefined) {
        pageKeys = Math.max(1, Math.floor(want / 2));
        continue;
      }
      for (const kv of page.kvs) {
        const header = decodeRecordHeader(kv.value);
        if (query.scope !== undefined && header.scope !== query.scope) continue;
        if (types !== undefined && !types.has(header.entryType)) continue;
        found.push(decodeRecord(this.#keys.sequenceOf(kv.key), kv.value, header));
        if (found.length === limit) break;
      }
      const last = page.kvs.at(-1);
      if (!page.more || last === undefined) break;
      const lastSequence = this.#keys.sequenceOf(last.key);
      if (newestFirst) high = this.#keys.log(lastSequence);
      else low = this.#keys.log(lastSequence + 1);
    }
    return found;
  }

  watchHead(
    fromSequence: number,
    onAdvance: (nextSequence: number) => void,
    onError: (error: Error) => void,
  ): () => void {
    if (this.#closed) throw new TypeError("Cannot watch a closed etcd store");
    const stop = watchEtcdHead({
      client: this.#client,
      headKey: this.#keys.head,
      fromSequence,
      readHead: () => this.nextSequence(),
      onAdvance,
      onError: (err) => {
        this.#stopWatches.delete(stop);
        onError(etcdFailure(err, "watch the journal head", this.#endpointsText));
      },
      pollMs: this.#headPollMs,
      giveUpMs: this.#watchGiveUpMs,
      endpoints: this.#endpointsText,
    });
    this.#stopWatches.add(stop);
    return () => {
      this.#stopWatches.delete(stop);
      stop();
    };
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      for (const stop of this.#stopWatches) stop();
      this.#stopWatches.clear();
      if (this.#ownsClient) this.#client.close();
    }
    return Promise.resolve();
  }

  /** The transaction for `records`, checked against the limits. */
  #appendRequest(records: readonly EntryRecord[]): {
    txn: Parameters<Etcd3["kv"]["txn"]>[0];
    values: Uint8Array[];
  } {
    if (records.length > this.limits.maxBatchEntries) {
      throw new RangeError(
        `Cannot append ${records.length} records in one etcd transaction: the limit is ${this.limits.maxBatchEntries}`,
      );
    }
    const dataBytes = records.reduce((sum, r) => sum + r.data.length, 0);
    if (dataBytes > this.limits.maxBatchBytes) {
      throw new RangeError(
        `Cannot append ${dataBytes} bytes of entries in one etcd transaction: the limit is ${this.limits.maxBatchBytes}`,
      );
    }
    const first = records[0]!.sequence;
    const last = records.at(-1)!.sequence;
    const values = records.map(encodeRecordValue);
    const head = Buffer.from(this.#keys.head);
    const puts: IRequestOp[] = records.map((r, i) => ({
      request_put: { key: Buffer.from(this.#keys.log(r.sequence)), value: Buffer.from(values[i]!) },
    }));
    puts.push({ request_put: { key: head, value: Buffer.from(String(last + 1)) } });
    // Key, value and ~16 bytes of protobuf framing per operation.
    const requestBytes = puts.reduce(
      (sum, op) => sum + op.request_put!.key!.length + op.request_put!.value!.length + 16,
      64,
    );
    if (requestBytes > this.#maxRequestBytes) {
      throw new RangeError(
        `Cannot append records ${first}..${last}: the etcd request would be ${requestBytes} bytes, over the server's ${this.#maxRequestBytes}`,
      );
    }
    const range = (sequence: number): IRequestOp => ({
      request_range: { key: Buffer.from(this.#keys.log(sequence)) },
    });
    return {
      txn: {
        compare: [
          first === 0
            ? { key: head, target: "Version", result: "Equal", version: 0 }
            : { key: head, target: "Value", result: "Equal", value: Buffer.from(String(first)) },
        ],
        success: puts,
        // On a conflict: the head, and the first and last of our sequences,
        // to tell another writer's records from our own earlier attempt.
        failure: [{ request_range: { key: head } }, range(first), range(last)],
      },
      values,
    };
  }

  /**
   * True when the records a failed compare found at our first and last
   * sequences are byte for byte the ones we tried to write (and the head
   * is past them): our earlier attempt committed but its answer was lost.
   */
  #isOwnCommit(res: ITxnResponse, records: readonly EntryRecord[], values: Uint8Array[]): boolean {
    const [headRes, firstRes, lastRes] = res.responses.map((r) => r.response_range);
    const storedFirst = firstRes?.kvs[0]?.value;
    const storedLast = lastRes?.kvs[0]?.value;
    return parseHead(headRes?.kvs[0]) > records.at(-1)!.sequence &&
      storedFirst !== undefined && storedLast !== undefined &&
      sameBytes(storedFirst, values[0]!) && sameBytes(storedLast, values.at(-1)!);
  }

  async #readPage(low: string, high: string, limit: number, newestFirst: boolean) {
    const request: IRangeRequest = {
      key: Buffer.from(low),
      range_end: Buffer.from(high),
      limit,
      sort_target: "Key",
      sort_order: newestFirst ? "Descend" : "Ascend",
    };
    try {
      return await this.#retrying(
        "read the journal",
        (deadline) => this.#client.kv.range(request, { deadline }),
        LINEARIZABLE_READ_MS,
      );
    } catch (err) {
      if (!(err instanceof PactError) || err.code !== "UNAVAILABLE" || this.#closed) throw err;
      // No quorum: a serializable read from any member that answers. The log
      // is append-only, so such a read can miss the newest entries but never
      // shows a wrong one; reads keep working while writes cannot.
      return await this.#retrying(
        "read the journal",
        (deadline) => this.#client.kv.range({ ...request, serializable: true }, { deadline }),
      );
    }
  }

  /** Runs `call`, retrying transient failures until `timeoutMs` (default `operationTimeoutMs`) has passed. */
  async #retrying<T>(
    action: string,
    call: (deadline: number, attempt: number) => Promise<T>,
    timeoutMs = this.#operationTimeoutMs,
  ): Promise<T> {
    const giveUpAt = Date.now() + timeoutMs;
    let backoffMs = 50;
    // The reason to report: an open circuit breaker only says that an
    // earlier call to the member failed, so keep that earlier failure.
    let reason: unknown;
    for (let attempt = 1;; attempt++) {
      if (this.#closed) {
        throw new PactError("UNAVAILABLE", `Cannot ${action}: the etcd store is closed`);
      }
      try {
        return await call(Math.min(giveUpAt, Date.now() + this.#callTimeoutMs), attempt);
      } catch (err) {
        if (err instanceof StoreConflictError) throw err;
        if (!isBrokenCircuit(err) || reason === undefined) reason = err;
        if (this.#closed || !isTransientEtcdError(err) || Date.now() + backoffMs >= giveUpAt) {
          throw etcdFailure(reason, action, this.#endpointsText);
        }
        await delay(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 1_000);
      }
    }
  }
}

/** How long a read insists on linearizability before it falls back to a serializable read. */
const LINEARIZABLE_READ_MS = 3_000;

/** The next sequence a head key holds (0 when the key is missing). */
function parseHead(kv: IKeyValue | undefined): number {
  if (kv === undefined) return 0;
  const text = kv.value.toString();
  if (!/^\d{1,16}$/.test(text)) {
    throw new PactError(
      "INTERNAL",
      `Cannot read the journal head: it holds ${JSON.stringify(text)}`,
    );
  }
  return Number(text);
}
