/**
 * The SPIRE provider of the identity cascade (reference §2.10, hpc-identity
 * `IdentityCascade`): an X.509-SVID from the SPIFFE Workload API on the
 * SPIRE agent's unix socket (default `/run/spire/agent.sock`, 30 s
 * timeout). Only an SVID whose SPIFFE ID names a pact node,
 * `spiffe://<trust-domain>/pact-agent/<node-id>`, is used.
 */
import {
  type ClientReadableStream,
  credentials,
  makeGenericClientConstructor,
  Metadata,
  type ServiceError,
} from "@grpc/grpc-js";
import { derToPem } from "../../shared/crypto/pem.ts";
import { sha256HexOf, x509 } from "../../shared/crypto/x509.ts";
import { isValidId } from "../../shared/domain/scope.ts";
import { PactError } from "../../shared/errors/mod.ts";
import {
  DEFAULT_SPIRE_SOCKET,
  SPIFFE_WORKLOAD_API,
  splitDerCertificates,
  WORKLOAD_HEADER,
  WORKLOAD_HEADER_VALUE,
  type X509Svid,
  type X509SvidResponse,
} from "../../shared/spiffe/workload_api.ts";

/** The spec's default wait for the SPIRE agent's answer. */
export const SPIRE_TIMEOUT_MS = 30_000;

/** An SVID ready for mTLS: PEM texts and the facts the agent needs. */
export interface Svid {
  readonly spiffeId: string;
  readonly nodeId: string;
  /** Leaf first, then intermediates. */
  readonly certPem: string;
  readonly keyPem: string;
  readonly bundlePem: string;
  /** Lowercase hex. */
  readonly serial: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  /** SHA-256 of the bundle's first CA certificate. */
  readonly bundleFingerprint: string;
}

/** Where SVIDs come from; the real one is `SpireWorkloadSource`, tests may pass another. */
export interface SvidSource {
  /** In words, for logs. */
  readonly describe: string;
  /** Whether asking makes sense now (the socket exists). */
  available(): Promise<boolean>;
  /** The node's current SVID; throws a PactError when there is none. */
  fetch(): Promise<Svid>;
}

/** The SPIFFE ID path that names a pact node. */
const NODE_ID_PATTERN = /^spiffe:\/\/([a-z0-9._-]+)\/pact-agent\/([^/]+)$/;

/** The node a SPIFFE ID names, or undefined when it names no pact node. */
export function nodeOfSpiffeId(spiffeId: string): string | undefined {
  const match = NODE_ID_PATTERN.exec(spiffeId);
  const node = match?.[2];
  return node !== undefined && isValidId(node) ? node : undefined;
}

/** A client of the SPIFFE Workload API on a unix socket. */
export class SpireWorkloadSource implements SvidSource {
  readonly socketPath: string;
  readonly #timeoutMs: number;

  constructor(socketPath = DEFAULT_SPIRE_SOCKET, timeoutMs = SPIRE_TIMEOUT_MS) {
    this.socketPath = socketPath;
    this.#timeoutMs = timeoutMs;
  }

  get describe(): string {
    return `SPIRE agent at ${this.socketPath}`;
  }

  async available(): Promise<boolean> {
    try {
      return (await Deno.stat(this.socketPath)).isSocket === true;
    } catch {
      return false;
    }
  }

  /** Opens FetchX509SVID, takes the first message (the current SVIDs) and closes the stream. */
  async fetch(): Promise<Svid> {
    const response = await this.#first();
    const svid = response.svids.find((s) => nodeOfSpiffeId(s.spiffeId) !== undefined);
    if (!svid) {
      throw new PactError(
        "PERMISSION_DENIED",
        `${this.describe} issued no SVID for a pact node (spiffe://<trust-domain>/pact-agent/<node>): got ${
          response.svids.map((s) => s.spiffeId).join(", ") || "none"
        }`,
      );
    }
    return await svidOf(svid);
  }

  #first(): Promise<X509SvidResponse> {
    const Client = makeGenericClientConstructor(SPIFFE_WORKLOAD_API, "SpiffeWorkloadAPI");
    const client = new Client(`unix:${this.socketPath}`, credentials.createInsecure());
    const metadata = new Metadata();
    metadata.set(WORKLOAD_HEADER, WORKLOAD_HEADER_VALUE);
    return new Promise<X509SvidResponse>((resolve, reject) => {
      const fetchX509Svid = client.fetchX509Svid as unknown as (
        request: object,
        metadata: Metadata,
        options: { deadline: number },
      ) => ClientReadableStream<X509SvidResponse>;
      const call = fetchX509Svid.call(client, {}, metadata, {
        deadline: Date.now() + this.#timeoutMs,
      });
      let done = false;
      const finish = (action: () => void) => {
        if (done) return;
        done = true;
        call.cancel();
        client.close();
        action();
      };
      call.on("data", (message: X509SvidResponse) => finish(() => resolve(message)));
      call.on("error", (err: ServiceError) =>
        finish(() =>
          reject(
            new PactError(
              err.code === 4 ? "TIMEOUT" : err.code === 14 ? "UNAVAILABLE" : "PERMISSION_DENIED",
              `${this.describe}: ${err.details || err.message}`,
            ),
          )
        ));
      call.on(
        "end",
        () =>
          finish(() =>
            reject(
              new PactError("UNAVAILABLE", `${this.describe} closed the stream without an SVID`),
            )
          ),
      );
    });
  }
}

/** PEM texts and facts of a Workload API SVID; throws when it is malformed. */
async function svidOf(svid: X509Svid): Promise<Svid> {
  const chain = splitDerCertificates(svid.x509Svid);
  const bundle = splitDerCertificates(svid.bundle);
  const leafDer = chain[0];
  const firstCa = bundle[0];
  if (!leafDer || !firstCa || svid.x509SvidKey.length === 0) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `SVID ${svid.spiffeId} lacks its certificate, key or bundle`,
    );
  }
  const leaf = new x509.X509Certificate(leafDer as Uint8Array<ArrayBuffer>);
  const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
  const uris = san?.names.items.filter((n) => n.type === "url").map((n) => n.value) ?? [];
  if (uris.length !== 1 || uris[0] !== svid.spiffeId) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `SVID certificate names ${uris.join(", ") || "no URI"}, not ${svid.spiffeId}`,
    );
  }
  return {
    spiffeId: svid.spiffeId,
    nodeId: nodeOfSpiffeId(svid.spiffeId)!,
    certPem: chain.map((der) => derToPem(der, "CERTIFICATE")).join(""),
    keyPem: derToPem(svid.x509SvidKey, "PRIVATE KEY"),
    bundlePem: bundle.map((der) => derToPem(der, "CERTIFICATE")).join(""),
    serial: leaf.serialNumber.toLowerCase(),
    notBeforeMs: leaf.notBefore.getTime(),
    notAfterMs: leaf.notAfter.getTime(),
    bundleFingerprint: await sha256HexOf(firstCa),
  };
}
