/**
 * How a failed gRPC call to a pact server (journal or agent) becomes a
 * PactError: the server's own code from the `pact-error-code` trailer when
 * it sent one, else a mapping of the gRPC status, with connection failures
 * shortened to their cause.
 */
import { type ServiceError, status } from "@grpc/grpc-js";
import { type ErrorCode, PactError } from "../../shared/errors/mod.ts";

/** The PactError codes a server may send in its `pact-error-code` trailer. */
const KNOWN_CODES = new Set<string>([
  "UNAUTHENTICATED",
  "TOKEN_INVALID",
  "TOKEN_EXPIRED",
  "PERMISSION_DENIED",
  "POLICY_DENIED",
  "CONFLICT",
  "TIMEOUT",
  "NOT_WHITELISTED",
  "ROLLBACK_ACTIVE_CONSUMERS",
  "VALIDATION",
  "INVALID_ARGUMENT",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "RESOURCE_EXHAUSTED",
  "CONFIG",
  "INTERNAL",
]);

/** Which server was called, for the messages. */
export interface CallTarget {
  /** "Journal" or "Agent". */
  readonly peer: string;
  readonly endpoint: string;
  readonly timeoutMs: number;
  /** Added to "host not found", e.g. how to name the server otherwise. */
  readonly notFoundHint?: string;
}

/** The PactError for `error`, a failed call to `target`. */
export function grpcToPactError(error: ServiceError, target: CallTarget): PactError {
  const trailer = error.metadata?.get("pact-error-code")[0];
  const details = error.details || error.message;
  // UNAVAILABLE is never taken from the trailer: the message below names the endpoint.
  if (typeof trailer === "string" && KNOWN_CODES.has(trailer)) {
    const pactError = new PactError(trailer as ErrorCode, details);
    const rule = error.metadata.get("pact-error-rule")[0];
    if (typeof rule === "string") Object.assign(pactError, { rule });
    return pactError;
  }
  const { peer, endpoint } = target;
  switch (error.code) {
    case status.UNAVAILABLE:
      return new PactError(
        "UNAVAILABLE",
        `${peer} unreachable at ${endpoint}: ${unavailableReason(details, target.notFoundHint)}`,
      );
    case status.DEADLINE_EXCEEDED:
      return new PactError(
        "TIMEOUT",
        `${peer} at ${endpoint} did not answer within ${target.timeoutMs / 1000} s`,
      );
    case status.UNAUTHENTICATED:
      return new PactError("UNAUTHENTICATED", details);
    case status.PERMISSION_DENIED:
      return new PactError("PERMISSION_DENIED", details);
    case status.ABORTED:
      return new PactError("CONFLICT", details);
    case status.NOT_FOUND:
      return new PactError("NOT_FOUND", details);
    case status.FAILED_PRECONDITION:
    case status.UNIMPLEMENTED:
      return new PactError("VALIDATION", details);
    case status.INVALID_ARGUMENT:
      return new PactError("INVALID_ARGUMENT", details);
    case status.RESOURCE_EXHAUSTED:
      return new PactError("RESOURCE_EXHAUSTED", details);
    default:
      return new PactError(
        "INTERNAL",
        `${peer} error (${status[error.code] ?? error.code}): ${details}`,
      );
  }
}

/** Shortens grpc-js's connection failure text to its cause. */
function unavailableReason(details: string, notFoundHint: string | undefined): string {
  const notFound = notFoundHint ? `host not found (${notFoundHint})` : "host not found";
  const reasons: Record<string, string> = {
    ECONNREFUSED: "connection refused",
    ENOTFOUND: notFound,
    EAI_AGAIN: notFound,
    "Name resolution failed": notFound,
    EHOSTUNREACH: "host unreachable",
    ETIMEDOUT: "connection timed out",
    ECONNRESET: "connection reset",
  };
  const match =
    /(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ETIMEDOUT|ECONNRESET|Name resolution failed)/
      .exec(details);
  return match ? reasons[match[1]!]! : details;
}
