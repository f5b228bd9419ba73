/**
 * The agent's three EnrollmentService calls as promises: Enroll (server
 * TLS only), RenewCert and GetCaBundle (mTLS). Refusals become PactErrors
 * with the journal's code and, where the journal names one, its rule.
 */
import {
  type ChannelCredentials,
  type ChannelOptions,
  Metadata,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import {
  type CaBundle,
  EnrollmentServiceClient,
  type EnrollResponse,
  type RenewCertResponse,
} from "../../shared/proto/gen/pact/enrollment/enrollment.ts";
import type { HardwareIdentity } from "../../shared/proto/gen/pact/config/config.ts";
import { type ErrorCode, PactError } from "../../shared/errors/mod.ts";

/** A refusal or failure of an enrollment call. */
export class EnrollmentCallError extends PactError {
  /** The journal's enrollment rule (`ALREADY_ACTIVE`, `NODE_REVOKED`, ...), if it named one. */
  readonly rule: string | undefined;
  /** The gRPC status. */
  readonly grpcCode: status;

  constructor(code: ErrorCode, message: string, rule: string | undefined, grpcCode: status) {
    super(code, message);
    this.rule = rule;
    this.grpcCode = grpcCode;
  }
}

/** One journal endpoint, with the credentials to reach it. */
export interface CallTarget {
  readonly address: string;
  readonly credentials: ChannelCredentials;
  readonly options: ChannelOptions;
  readonly timeoutMs: number;
}

/** Enroll: the hardware identity and a DER CSR. */
export function enrollCall(
  target: CallTarget,
  hardwareIdentity: HardwareIdentity,
  csrDer: Uint8Array,
): Promise<EnrollResponse> {
  return call(
    target,
    (client, deadline, done) =>
      client.enroll({ hardwareIdentity, csrDer }, new Metadata(), { deadline }, done),
  );
}

/** RenewCert over mTLS: the node, its current serial and a new CSR. */
export function renewCall(
  target: CallTarget,
  nodeId: string,
  currentSerial: string,
  csrDer: Uint8Array,
): Promise<RenewCertResponse> {
  return call(
    target,
    (client, deadline, done) =>
      client.renewCert({ nodeId, currentSerial, csrDer }, new Metadata(), { deadline }, done),
  );
}

/** GetCaBundle over mTLS. */
export function caBundleCall(target: CallTarget): Promise<CaBundle> {
  return call(
    target,
    (client, deadline, done) => client.getCaBundle({}, new Metadata(), { deadline }, done),
  );
}

function call<Res>(
  target: CallTarget,
  start: (
    client: EnrollmentServiceClient,
    deadline: Date,
    done: (err: ServiceError | null, response: Res) => void,
  ) => unknown,
): Promise<Res> {
  const client = new EnrollmentServiceClient(target.address, target.credentials, target.options);
  return new Promise<Res>((resolve, reject) => {
    start(client, new Date(Date.now() + target.timeoutMs), (err, response) => {
      if (err) reject(callError(target.address, err));
      else resolve(response);
    });
  }).finally(() => client.close());
}

/** Maps a gRPC failure to an EnrollmentCallError. */
export function callError(address: string, err: ServiceError): EnrollmentCallError {
  const code = err.metadata?.get("pact-error-code")[0];
  const rule = err.metadata?.get("pact-error-rule")[0];
  const details = err.details || err.message;
  if (typeof code === "string") {
    return new EnrollmentCallError(
      code as ErrorCode,
      details,
      typeof rule === "string" ? rule : undefined,
      err.code,
    );
  }
  const mapped: ErrorCode = err.code === status.UNAUTHENTICATED
    ? "UNAUTHENTICATED"
    : err.code === status.PERMISSION_DENIED
    ? "PERMISSION_DENIED"
    : err.code === status.DEADLINE_EXCEEDED
    ? "TIMEOUT"
    : "UNAVAILABLE";
  return new EnrollmentCallError(mapped, `Journal ${address}: ${details}`, undefined, err.code);
}
