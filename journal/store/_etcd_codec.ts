import type { EntryRecord } from "./port.ts";

/**
 * The etcd store's key layout and value framing. A record's value is a
 * 15-byte header followed by the scope and the entry bytes:
 *
 * ```
 * u8 format (1) | f64 timestampMs | u32 entryType | u16 scope length | scope (UTF-8) | data
 * ```
 *
 * Big-endian throughout. A filtered read decodes only the header.
 */

const FORMAT = 1;
const HEADER_BYTES = 1 + 8 + 4 + 2;
const SEQUENCE_DIGITS = 16;
/** The largest sequence a 16-digit key can carry. */
export const SEQUENCE_MAX = 10 ** SEQUENCE_DIGITS - 1;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The keys of one store under `prefix`. */
export class EtcdKeys {
  readonly head: string;
  readonly logPrefix: string;
  /** First key after every log key: the exclusive end of a full-log range. */
  readonly logEnd: string;

  constructor(prefix: string) {
    this.head = `${prefix}head`;
    this.logPrefix = `${prefix}log/`;
    // "0" is the character after "/", so this bounds every `log/…` key.
    this.logEnd = `${prefix}log0`;
  }

  /** `<prefix>log/<sequence, zero-padded to 16 digits>`. */
  log(sequence: number): string {
    if (!Number.isSafeInteger(sequence) || sequence < 0 || sequence > SEQUENCE_MAX) {
      throw new RangeError(`Sequence must be an integer from 0 to ${SEQUENCE_MAX}: ${sequence}`);
    }
    return `${this.logPrefix}${String(sequence).padStart(SEQUENCE_DIGITS, "0")}`;
  }

  /** The sequence a log key carries. */
  sequenceOf(key: Uint8Array): number {
    const text = decoder.decode(key);
    const digits = text.slice(this.logPrefix.length);
    if (!text.startsWith(this.logPrefix) || !/^\d{16}$/.test(digits)) {
      throw new Error(`Not a journal log key: ${JSON.stringify(text)}`);
    }
    return Number(digits);
  }
}

/** The decoded header of a stored record. */
export interface RecordHeader {
  readonly timestampMs: number;
  readonly entryType: number;
  readonly scope: string;
  /** Where `data` starts in the value. */
  readonly dataOffset: number;
}

/** Encodes a record's value. Throws RangeError for fields the framing cannot carry. */
export function encodeRecordValue(record: EntryRecord): Uint8Array {
  if (!Number.isFinite(record.timestampMs)) {
    throw new RangeError(`Record ${record.sequence} has a non-finite timestamp`);
  }
  if (
    !Number.isInteger(record.entryType) || record.entryType < 0 || record.entryType > 0xffffffff
  ) {
    throw new RangeError(
      `Record ${record.sequence} has an invalid entry type: ${record.entryType}`,
    );
  }
  const scope = encoder.encode(record.scope);
  if (scope.length > 0xffff) {
    throw new RangeError(
      `Record ${record.sequence} has a scope of ${scope.length} bytes (max 65535)`,
    );
  }
  const value = new Uint8Array(HEADER_BYTES + scope.length + record.data.length);
  const view = new DataView(value.buffer);
  view.setUint8(0, FORMAT);
  view.setFloat64(1, record.timestampMs);
  view.setUint32(9, record.entryType);
  view.setUint16(13, scope.length);
  value.set(scope, HEADER_BYTES);
  value.set(record.data, HEADER_BYTES + scope.length);
  return value;
}

/** Decodes the header of a stored value; throws on a value this code did not write. */
export function decodeRecordHeader(value: Uint8Array): RecordHeader {
  if (value.length < HEADER_BYTES || value[0] !== FORMAT) {
    throw new Error(`Unknown journal record format (${value.length} bytes, format ${value[0]})`);
  }
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const scopeLength = view.getUint16(13);
  const dataOffset = HEADER_BYTES + scopeLength;
  if (dataOffset > value.length) throw new Error("Truncated journal record");
  return {
    timestampMs: view.getFloat64(1),
    entryType: view.getUint32(9),
    scope: decoder.decode(value.subarray(HEADER_BYTES, dataOffset)),
    dataOffset,
  };
}

/** The full record: the header plus a copy of the data (not a view into `value`). */
export function decodeRecord(
  sequence: number,
  value: Uint8Array,
  header: RecordHeader,
): EntryRecord {
  return {
    sequence,
    timestampMs: header.timestampMs,
    entryType: header.entryType,
    scope: header.scope,
    data: new Uint8Array(value.subarray(header.dataOffset)),
  };
}

/** True when two byte arrays hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
