import { Metadata, status } from "@grpc/grpc-js";
import { type ErrorCode, isPactError } from "../../shared/errors/mod.ts";

/** Trailer carrying the PactError code, so that clients map exit codes exactly. */
export const ERROR_CODE_KEY = "pact-error-code";
/** Trailer carrying the validation rule of a refused entry. */
export const ERROR_RULE_KEY = "pact-error-rule";
/** Trailer telling a refused client how many milliseconds to wait before retrying. */
export const RETRY_AFTER_MS_KEY = "retry-after-ms";

/** The gRPC status for each PactError code. */
export function grpcStatusFor(code: ErrorCode): status {
  switch (code) {
    case "UNAUTHENTICATED":
    case "TOKEN_INVALID":
    case "TOKEN_EXPIRED":
      return status.UNAUTHENTICATED;
    case "PERMISSION_DENIED":
    case "POLICY_DENIED":
    case "NOT_WHITELISTED":
      return status.PERMISSION_DENIED;
    case "CONFLICT":
      return status.ABORTED;
    case "UNAVAILABLE":
      return status.UNAVAILABLE;
    case "TIMEOUT":
      return status.DEADLINE_EXCEEDED;
    case "VALIDATION":
    case "ROLLBACK_ACTIVE_CONSUMERS":
      return status.FAILED_PRECONDITION;
    case "INVALID_ARGUMENT":
      return status.INVALID_ARGUMENT;
    case "NOT_FOUND":
      return status.NOT_FOUND;
    case "ALREADY_EXISTS":
      return status.ALREADY_EXISTS;
    case "RESOURCE_EXHAUSTED":
      return status.RESOURCE_EXHAUSTED;
    case "CONFIG":
    case "INTERNAL":
      return status.INTERNAL;
  }
}

/** A grpc-js ServiceError-shaped object. */
export interface StatusError {
  code: status;
  details: string;
  metadata: Metadata;
}

/**
 * Maps any thrown value to a gRPC status. PactErrors keep their message;
 * anything else is an internal error whose details are logged, not sent.
 */
export function toStatusError(err: unknown): StatusError {
  const metadata = new Metadata();
  if (isPactError(err)) {
    metadata.set(ERROR_CODE_KEY, err.code);
    const rule = (err as { rule?: unknown }).rule;
    if (typeof rule === "string") metadata.set(ERROR_RULE_KEY, rule);
    const retryAfterMs = (err as { retryAfterMs?: unknown }).retryAfterMs;
    if (typeof retryAfterMs === "number") metadata.set(RETRY_AFTER_MS_KEY, `${retryAfterMs}`);
    return { code: grpcStatusFor(err.code), details: err.message, metadata };
  }
  metadata.set(ERROR_CODE_KEY, "INTERNAL");
  return {
    code: status.INTERNAL,
    details: "Internal journal error (see the journal's log)",
    metadata,
  };
}
