/**
 * The SPIFFE Workload API's X.509-SVID call (see workload.proto beside
 * this file): the messages, encoded with @bufbuild/protobuf/wire as the
 * generated code does, and the grpc-js service definition both the
 * agent's client and the test double use. Every call must carry the
 * metadata header `workload.spiffe.io: true`; SPIRE refuses it without.
 */
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import type { ServiceDefinition } from "@grpc/grpc-js";
import { Buffer } from "node:buffer";

/** The header the Workload API requires on every call, and its value. */
export const WORKLOAD_HEADER = "workload.spiffe.io";
export const WORKLOAD_HEADER_VALUE = "true";

/** Where a SPIRE agent serves the Workload API by default. */
export const DEFAULT_SPIRE_SOCKET = "/run/spire/agent.sock";

/** One X.509-SVID as the Workload API sends it (DER throughout). */
export interface X509Svid {
  readonly spiffeId: string;
  /** Leaf first, then intermediates, concatenated DER. */
  readonly x509Svid: Uint8Array;
  /** PKCS#8 DER. */
  readonly x509SvidKey: Uint8Array;
  /** The trust domain's CA certificates, concatenated DER. */
  readonly bundle: Uint8Array;
  readonly hint: string;
}

/** One message of the FetchX509SVID stream. */
export interface X509SvidResponse {
  readonly svids: readonly X509Svid[];
  readonly crl: readonly Uint8Array[];
  readonly federatedBundles: ReadonlyMap<string, Uint8Array>;
}

/** Messages and sizes are bounded: an SVID response is a few KB. */
const RESPONSE_BYTES_MAX = 4 * 1024 * 1024;

export function encodeX509SvidResponse(message: X509SvidResponse): Uint8Array {
  const w = new BinaryWriter();
  for (const svid of message.svids) {
    w.uint32(10).fork();
    if (svid.spiffeId !== "") w.uint32(10).string(svid.spiffeId);
    if (svid.x509Svid.length) w.uint32(18).bytes(svid.x509Svid);
    if (svid.x509SvidKey.length) w.uint32(26).bytes(svid.x509SvidKey);
    if (svid.bundle.length) w.uint32(34).bytes(svid.bundle);
    if (svid.hint !== "") w.uint32(42).string(svid.hint);
    w.join();
  }
  for (const crl of message.crl) w.uint32(18).bytes(crl);
  for (const [domain, bundle] of message.federatedBundles) {
    w.uint32(26).fork().uint32(10).string(domain).uint32(18).bytes(bundle).join();
  }
  return w.finish();
}

export function decodeX509SvidResponse(bytes: Uint8Array): X509SvidResponse {
  if (bytes.length > RESPONSE_BYTES_MAX) {
    throw new RangeError(`X509SVIDResponse too large: ${bytes.length} bytes`);
  }
  const r = new BinaryReader(bytes);
  const svids: X509Svid[] = [];
  const crl: Uint8Array[] = [];
  const federatedBundles = new Map<string, Uint8Array>();
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag) {
      case 10:
        svids.push(decodeSvid(r, r.uint32()));
        break;
      case 18:
        crl.push(r.bytes());
        break;
      case 26: {
        const end = r.uint32() + r.pos;
        let domain = "";
        let bundle: Uint8Array = new Uint8Array();
        while (r.pos < end) {
          const t = r.uint32();
          if (t === 10) domain = r.string();
          else if (t === 18) bundle = r.bytes();
          else r.skip(t & 7);
        }
        federatedBundles.set(domain, bundle);
        break;
      }
      default:
        r.skip(tag & 7);
    }
  }
  return { svids, crl, federatedBundles };
}

function decodeSvid(r: BinaryReader, length: number): X509Svid {
  const end = r.pos + length;
  let spiffeId = "";
  let x509Svid: Uint8Array = new Uint8Array();
  let x509SvidKey: Uint8Array = new Uint8Array();
  let bundle: Uint8Array = new Uint8Array();
  let hint = "";
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 10:
        spiffeId = r.string();
        break;
      case 18:
        x509Svid = r.bytes();
        break;
      case 26:
        x509SvidKey = r.bytes();
        break;
      case 34:
        bundle = r.bytes();
        break;
      case 42:
        hint = r.string();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return { spiffeId, x509Svid, x509SvidKey, bundle, hint };
}

/** X509SVIDRequest has no fields: any bytes decode to it, it encodes to none. */
export type X509SvidRequest = Record<never, never>;

/** The grpc-js definition of `SpiffeWorkloadAPI` (FetchX509SVID only). */
export const SPIFFE_WORKLOAD_API = {
  fetchX509Svid: {
    path: "/SpiffeWorkloadAPI/FetchX509SVID",
    requestStream: false,
    responseStream: true,
    requestSerialize: (_: X509SvidRequest) => Buffer.alloc(0),
    requestDeserialize: (_: Buffer): X509SvidRequest => ({}),
    responseSerialize: (message: X509SvidResponse) => Buffer.from(encodeX509SvidResponse(message)),
    responseDeserialize: (bytes: Buffer) => decodeX509SvidResponse(new Uint8Array(bytes)),
  },
} satisfies ServiceDefinition;

/**
 * Splits concatenated DER certificates (the Workload API's chain and
 * bundle fields) into one DER per certificate.
 */
export function splitDerCertificates(bytes: Uint8Array): Uint8Array[] {
  const certs: Uint8Array[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    if (bytes[pos] !== 0x30) throw new RangeError(`Not a DER SEQUENCE at byte ${pos}`);
    const first = bytes[pos + 1];
    if (first === undefined) throw new RangeError("Truncated DER certificate");
    let length = first;
    let header = 2;
    if (first & 0x80) {
      const count = first & 0x7f;
      if (count === 0 || count > 4) throw new RangeError(`Bad DER length at byte ${pos}`);
      length = 0;
      for (let i = 0; i < count; i++) {
        const byte = bytes[pos + 2 + i];
        if (byte === undefined) throw new RangeError("Truncated DER certificate");
        length = length * 256 + byte;
      }
      header += count;
    }
    const end = pos + header + length;
    if (end > bytes.length) throw new RangeError("Truncated DER certificate");
    certs.push(bytes.slice(pos, end));
    pos = end;
  }
  return certs;
}
