/**
 * A node's side of enrollment for tests: a fresh P-256 key, a PKCS#10 CSR
 * made with @peculiar/x509, and the Enroll / RenewCert calls over the
 * generated gRPC client, as an agent makes them.
 */
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { EC_P256, generateP256KeyPair, x509 } from "../../shared/crypto/x509.ts";
import {
  EnrollmentServiceClient,
  type EnrollResponse,
  type RenewCertResponse,
} from "../../shared/proto/gen/pact/enrollment/enrollment.ts";
import { emptyHardwareIdentity } from "../../shared/domain/hardware_identity.ts";
import type { HardwareIdentity } from "../../shared/proto/gen/pact/config/config.ts";

/** A refused call: gRPC status, details and the pact error rule. */
export interface Refusal {
  readonly code: number;
  readonly details: string;
  readonly rule: string | undefined;
  readonly errorCode: string | undefined;
}

/** A DER CSR for a fresh P-256 key, with `cn` as subject. */
export async function makeCsr(cn = ""): Promise<{ der: Uint8Array; keys: CryptoKeyPair }> {
  const keys = await generateP256KeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    ...(cn ? { name: `CN=${cn}` } : {}),
    keys,
    signingAlgorithm: EC_P256,
  });
  return { der: new Uint8Array(csr.rawData), keys };
}

/** A hardware identity with a MAC (and optionally more). */
export function hardware(fields: Partial<HardwareIdentity>): HardwareIdentity {
  return { ...emptyHardwareIdentity(), ...fields };
}

/** Calls the journal's EnrollmentService as a node does. */
export class EnrollingClient {
  readonly #client: EnrollmentServiceClient;

  constructor(grpcAddress: string) {
    this.#client = new EnrollmentServiceClient(grpcAddress, credentials.createInsecure());
  }

  /** Enroll without a token. */
  enroll(hardwareIdentity: HardwareIdentity, csrDer: Uint8Array): Promise<EnrollResponse> {
    return new Promise((resolve, reject) => {
      this.#client.enroll(
        { hardwareIdentity, csrDer },
        new Metadata(),
        { deadline: new Date(Date.now() + 20_000) },
        (err, response) => (err ? reject(refusalOf(err)) : resolve(response)),
      );
    });
  }

  /** RenewCert with the node's service token. */
  renew(
    token: string,
    nodeId: string,
    currentSerial: string,
    csrDer: Uint8Array,
  ): Promise<RenewCertResponse> {
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    return new Promise((resolve, reject) => {
      this.#client.renewCert(
        { nodeId, currentSerial, csrDer },
        metadata,
        { deadline: new Date(Date.now() + 20_000) },
        (err, response) => (err ? reject(refusalOf(err)) : resolve(response)),
      );
    });
  }

  close(): void {
    this.#client.close();
  }
}

function refusalOf(err: ServiceError): Refusal {
  const rule = err.metadata?.get("pact-error-rule")[0];
  const code = err.metadata?.get("pact-error-code")[0];
  return {
    code: err.code,
    details: err.details,
    rule: typeof rule === "string" ? rule : undefined,
    errorCode: typeof code === "string" ? code : undefined,
  };
}
