/**
 * The one base class for domain and operational errors across pact. Callers
 * switch on the stable `code`; the message is for humans.
 *
 * Misuse of an API throws `TypeError`/`RangeError`; a broken invariant is an
 * `assert` that crashes. Neither is a PactError.
 */
export class PactError extends Error {
  /** Stable machine-readable reason, e.g. `TTL_TOO_SHORT`. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PactError";
    this.code = code;
  }
}

/**
 * Every code a PactError may carry, grouped by the exit code and gRPC status
 * they map to at each boundary (see `exit_code.ts` and `grpc_status.ts`).
 */
export type ErrorCode =
  // Authentication and authorization: exit 2.
  | "UNAUTHENTICATED"
  | "TOKEN_INVALID"
  | "TOKEN_EXPIRED"
  | "PERMISSION_DENIED"
  // Policy rejection: exit 3.
  | "POLICY_DENIED"
  // Conflicts: exit 4.
  | "CONFLICT"
  // Journal unreachable or too slow: exit 5.
  | "UNAVAILABLE"
  | "TIMEOUT"
  // Command not whitelisted: exit 6.
  | "NOT_WHITELISTED"
  // Rollback refused while resources are in use: exit 10.
  | "ROLLBACK_ACTIVE_CONSUMERS"
  // Validation of an entry or request: exit 1.
  | "VALIDATION"
  | "INVALID_ARGUMENT"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "RESOURCE_EXHAUSTED"
  | "CONFIG"
  | "INTERNAL";

/** True when `err` is a PactError, optionally with one of `codes`. */
export function isPactError(err: unknown, ...codes: ErrorCode[]): err is PactError {
  return err instanceof PactError && (codes.length === 0 || codes.includes(err.code));
}
