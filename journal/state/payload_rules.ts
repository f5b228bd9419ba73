import { type ConfigEntry, EntryType } from "../../shared/proto/gen/pact/config/config.ts";

/** The `payload` case names of ConfigEntry. */
export type PayloadCase = NonNullable<ConfigEntry["payload"]>["$case"];

/** Which scope an entry type must have; `any` allows all three. */
export type ScopeRule = "node" | "vcluster" | "any";

interface PayloadRule {
  /** Payloads the type accepts. */
  readonly allowed: readonly PayloadCase[];
  /** True when the entry is meaningless without a payload. */
  readonly required: boolean;
  readonly scope: ScopeRule;
}

const rule = (allowed: PayloadCase[], required: boolean, scope: ScopeRule): PayloadRule => ({
  allowed,
  required,
  scope,
});

/** Per entry type: accepted payloads and scope. */
export const PAYLOAD_RULES: ReadonlyMap<EntryType, PayloadRule> = new Map([
  [EntryType.COMMIT, rule(["stateDelta", "declared"], false, "any")],
  [EntryType.ROLLBACK, rule(["stateDelta"], false, "any")],
  [EntryType.AUTO_CONVERGE, rule(["stateDelta"], false, "node")],
  [EntryType.DRIFT_DETECTED, rule(["stateDelta"], false, "node")],
  [EntryType.CAPABILITY_CHANGE, rule(["capability"], false, "node")],
  [EntryType.POLICY_UPDATE, rule(["policy"], true, "vcluster")],
  [EntryType.BOOT_CONFIG, rule(["boot"], false, "node")],
  [EntryType.EMERGENCY_START, rule([], false, "node")],
  [EntryType.EMERGENCY_END, rule(["stateDelta"], false, "node")],
  [EntryType.EXEC_LOG, rule(["exec"], false, "any")],
  [EntryType.SHELL_SESSION, rule(["shellSession"], false, "node")],
  [EntryType.SERVICE_LIFECYCLE, rule(["service"], false, "node")],
  [EntryType.PENDING_APPROVAL, rule(["approval"], true, "any")],
  [EntryType.NODE_REGISTERED, rule(["enrollment"], false, "node")],
  [EntryType.NODE_ACTIVATED, rule(["enrollment", "certificate"], false, "node")],
  [EntryType.NODE_DEACTIVATED, rule(["enrollment"], false, "node")],
  [EntryType.NODE_DECOMMISSIONED, rule(["enrollment", "certificate"], false, "node")],
  [EntryType.NODE_ASSIGNED, rule(["enrollment"], true, "node")],
  [EntryType.NODE_UNASSIGNED, rule(["enrollment"], false, "node")],
  [EntryType.NODE_MOVED, rule(["enrollment"], true, "node")],
  [EntryType.CERT_SIGNED, rule(["certificate"], true, "node")],
  [EntryType.CERT_REVOKED, rule(["certificate"], true, "node")],
  [EntryType.CA_ROTATED, rule(["ca", "certificate"], true, "any")],
  [EntryType.ENROLLMENT_REFUSED, rule(["enrollment"], false, "any")],
  [EntryType.APPROVAL_DECISION, rule(["approvalDecision"], true, "any")],
  [EntryType.OVERLAY_UPDATE, rule(["overlay"], true, "vcluster")],
  [EntryType.CONFLICT, rule(["conflict"], true, "any")],
  [EntryType.DELEGATION, rule(["delegation"], true, "node")],
  [EntryType.BLACKLIST_CHANGE, rule(["blacklist"], true, "any")],
  [EntryType.DIAG_COLLECT, rule(["diag"], false, "any")],
]);
