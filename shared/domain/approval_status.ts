import { ApprovalStatus } from "../proto/gen/pact/config/config.ts";

/** Lower-case name of an approval status, as the CLI and messages show it. */
export function approvalStatusName(status: ApprovalStatus): string {
  switch (status) {
    case ApprovalStatus.PENDING:
      return "pending";
    case ApprovalStatus.APPROVED:
      return "approved";
    case ApprovalStatus.REJECTED:
      return "rejected";
    case ApprovalStatus.EXPIRED:
      return "expired";
    default:
      return "unknown";
  }
}
