import type { ErrorCode } from "./pact_error.ts";

/** Process exit codes of the `pact` CLI, as the CLI design's table fixes them. */
export const ExitCode = {
  SUCCESS: 0,
  GENERAL: 1,
  AUTH: 2,
  POLICY: 3,
  CONFLICT: 4,
  UNREACHABLE: 5,
  NOT_WHITELISTED: 6,
  ROLLBACK_FAILED: 10,
} as const;

/** One of the exit codes above. */
export type ExitCode = typeof ExitCode[keyof typeof ExitCode];

/** The exit code for a PactError code. */
export function exitCodeFor(code: ErrorCode): ExitCode {
  switch (code) {
    case "UNAUTHENTICATED":
    case "TOKEN_INVALID":
    case "TOKEN_EXPIRED":
    case "PERMISSION_DENIED":
      return ExitCode.AUTH;
    case "POLICY_DENIED":
      return ExitCode.POLICY;
    case "CONFLICT":
      return ExitCode.CONFLICT;
    case "UNAVAILABLE":
    case "TIMEOUT":
      return ExitCode.UNREACHABLE;
    case "NOT_WHITELISTED":
      return ExitCode.NOT_WHITELISTED;
    case "ROLLBACK_ACTIVE_CONSUMERS":
      return ExitCode.ROLLBACK_FAILED;
    default:
      return ExitCode.GENERAL;
  }
}
