/**
 * The action vocabulary of authorization decisions (reference §2.8) and
 * which action each journal entry type stands for.
 */
import { EntryType } from "../../shared/proto/gen/pact/config/config.ts";

/** Reads: anyone with a role in the scope may do these. */
export const READ_ACTIONS = ["status", "diff", "log", "watch", "cap"] as const;

/** State-changing admin operations. */
export const WRITE_ACTIONS = [
  "commit",
  "rollback",
  "exec",
  "shell",
  "service_start",
  "service_stop",
  "service_restart",
  "delegation",
  "blacklist",
] as const;

/** Everything else a decision may be about. */
export const OTHER_ACTIONS = [
  "emergency_start",
  "emergency_end",
  "approve",
  "policy_update",
  // Facts an agent records about its node: drift, boots, exec and shell logs.
  "record",
  // Enrollment, assignment and certificates: platform admins only.
  "enroll",
] as const;

/** One authorization action. */
export type Action =
  | (typeof READ_ACTIONS)[number]
  | (typeof WRITE_ACTIONS)[number]
  | (typeof OTHER_ACTIONS)[number];

const ALL: readonly string[] = [...READ_ACTIONS, ...WRITE_ACTIONS, ...OTHER_ACTIONS];

/**
 * Actions that need a second person on a vCluster whose policy sets
 * `two_person_approval` (reference §2.9; emergency end does not).
 */
export const APPROVAL_ACTIONS: readonly Action[] = [
  "commit",
  "rollback",
  "exec",
  "service_start",
  "service_stop",
  "service_restart",
  "emergency_start",
];

/** Actions OPA is asked about when it is configured: every state change. */
export const OPA_ACTIONS: readonly Action[] = [
  ...WRITE_ACTIONS,
  "emergency_start",
  "emergency_end",
];

/** True for a read action. */
export function isRead(action: Action): boolean {
  return (READ_ACTIONS as readonly string[]).includes(action);
}

/** True for a state-changing admin operation. */
export function isWrite(action: Action): boolean {
  return (WRITE_ACTIONS as readonly string[]).includes(action);
}

/** True for entering or leaving emergency mode. */
export function isEmergency(action: Action): boolean {
  return action === "emergency_start" || action === "emergency_end";
}

/** Parses an action name; undefined when it is not in the vocabulary. */
export function parseAction(text: string): Action | undefined {
  return ALL.includes(text) ? text as Action : undefined;
}

/** Every action name, for messages. */
export function actionNames(): readonly string[] {
  return ALL;
}

/**
 * The action an appended entry stands for; undefined for the approval
 * books, which only the journal itself writes.
 */
export function actionOfEntry(type: EntryType): Action | undefined {
  switch (type) {
    case EntryType.COMMIT:
    case EntryType.OVERLAY_UPDATE:
      return "commit";
    case EntryType.ROLLBACK:
      return "rollback";
    case EntryType.EMERGENCY_START:
      return "emergency_start";
    case EntryType.EMERGENCY_END:
      return "emergency_end";
    case EntryType.POLICY_UPDATE:
      return "policy_update";
    case EntryType.DELEGATION:
      return "delegation";
    case EntryType.BLACKLIST_CHANGE:
      return "blacklist";
    case EntryType.NODE_REGISTERED:
    case EntryType.NODE_ACTIVATED:
    case EntryType.NODE_DEACTIVATED:
    case EntryType.NODE_DECOMMISSIONED:
    case EntryType.NODE_ASSIGNED:
    case EntryType.NODE_UNASSIGNED:
    case EntryType.NODE_MOVED:
    case EntryType.CERT_SIGNED:
    case EntryType.CERT_REVOKED:
    case EntryType.CA_ROTATED:
      return "enroll";
    case EntryType.PENDING_APPROVAL:
    case EntryType.APPROVAL_DECISION:
      return undefined;
    default:
      // Drift, capability, boot, exec/shell/service logs, auto-converge,
      // conflicts, diagnostics: facts recorded about a node.
      return "record";
  }
}
