/**
 * The boot sequence's operational errors. They are PactErrors (so every
 * boundary maps them to an exit code once) with a finer `reason` the boot
 * sequence switches on: a refused stream is never retried against the same
 * journal, an unreachable one is.
 */
import { type ErrorCode, PactError } from "../../shared/errors/mod.ts";

/** Why a boot step failed. */
export type BootFailure =
  /** A checksum, length, chunk order or decoding check failed. */
  | "CONFIG_CORRUPT"
  /** No journal answered within the bound and no cached config exists. */
  | "NO_CONFIG"
  /** A journal answered but refused (auth, unknown vCluster, ...). */
  | "JOURNAL_REFUSED"
  /** A journal could not be reached or was too busy. */
  | "JOURNAL_UNREACHABLE"
  /** Applying the config or starting a service failed. */
  | "APPLY_FAILED";

/** A boot failure: `code` maps to the exit code, `reason` to the boot's decision. */
export class BootError extends PactError {
  readonly reason: BootFailure;
  /** For JOURNAL_UNREACHABLE after RESOURCE_EXHAUSTED: the journal's `retry-after-ms`. */
  readonly retryAfterMs: number | undefined;

  constructor(
    reason: BootFailure,
    code: ErrorCode,
    message: string,
    options: ErrorOptions & { retryAfterMs?: number | undefined } = {},
  ) {
    super(code, message, options);
    this.name = "BootError";
    this.reason = reason;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** A config that failed a check: refused, exit code 1. */
export function corrupt(message: string): BootError {
  return new BootError("CONFIG_CORRUPT", "VALIDATION", message);
}
