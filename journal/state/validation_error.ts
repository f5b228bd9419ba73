import { PactError } from "../../shared/errors/mod.ts";

/** The rule an entry broke; stable so that tests and clients can switch on it. */
export type ValidationRule =
  | "ENTRY_TYPE_REQUIRED"
  | "SCOPE_REQUIRED"
  | "SCOPE_MISMATCH"
  | "AUTHOR_PRINCIPAL_REQUIRED"
  | "AUTHOR_ROLE_REQUIRED"
  | "PARENT_NOT_PRECEDING"
  | "TTL_TOO_SHORT"
  | "TTL_TOO_LONG"
  | "PAYLOAD_MISMATCH"
  | "OVERLAY_CHECKSUM_MISMATCH"
  | "OVERLAY_TOO_LARGE"
  | "EMERGENCY_REASON_REQUIRED"
  | "EMERGENCY_ALREADY_ACTIVE"
  | "EMERGENCY_NOT_ACTIVE"
  | "FIELD_TOO_LARGE"
  | "APPROVAL_INVALID"
  | "APPROVAL_NOT_FOUND"
  | "APPROVAL_ALREADY_DECIDED"
  | "APPROVER_IS_REQUESTER"
  | "APPROVAL_NOT_EXECUTABLE";

/** An entry the journal refuses to append; nothing was written. */
export class ValidationError extends PactError {
  readonly rule: ValidationRule;

  constructor(rule: ValidationRule, message: string) {
    super("VALIDATION", message);
    this.rule = rule;
  }
}
