/**
 * The `[vcluster.<name>.policy]` table of a `pact apply` spec: the
 * VClusterPolicy keys of the reference (§1.11.3), checked one by one.
 * Keys left out take their documented defaults: the table replaces the
 * vCluster's policy as a whole.
 */
import {
  type DriftWeights,
  type RoleBinding,
  VClusterPolicy,
} from "../../shared/proto/gen/pact/config/config.ts";
import { type SpecChecker, type Table } from "./spec_checker.ts";
import type { KeyPath } from "./toml_locator.ts";

const POLICY_KEYS = [
  "policy_id",
  "drift_sensitivity",
  "base_commit_window_seconds",
  "emergency_window_seconds",
  "auto_converge_categories",
  "require_ack_categories",
  "enforcement_mode",
  "role_bindings",
  "regulated",
  "two_person_approval",
  "emergency_allowed",
  "audit_retention_days",
  "ai_exec_allowed",
  "federation_template",
  "supervisor_backend",
  "exec_whitelist",
  "shell_whitelist",
  "approval_timeout_seconds",
  "identity_mode",
  "blacklist_patterns",
  "drift_weights",
  "diag_extra_log_paths",
] as const;
const DIMENSIONS = ["mounts", "files", "network", "services", "kernel", "packages", "gpu"] as const;
const ROLE_BINDING_KEYS = ["role", "principals", "allowed_actions"] as const;
const SECONDS_MAX = 30 * 86_400;

/** Checks a policy table; the result names `vclusterId`. */
export function checkPolicy(
  check: SpecChecker,
  path: KeyPath,
  value: unknown,
  vclusterId: string,
): VClusterPolicy | undefined {
  const table = check.table(path, value);
  if (!table) return undefined;
  check.keys(path, table, POLICY_KEYS);
  const at = (key: string) => [...path, key];
  const get = <T>(key: (typeof POLICY_KEYS)[number], read: (p: KeyPath, v: unknown) => T) =>
    table[key] === undefined ? undefined : read(at(key), table[key]);
  const categories = (p: KeyPath, v: unknown) => {
    const list = check.stringArray(p, v);
    for (const [i, c] of (list ?? []).entries()) {
      if (!(DIMENSIONS as readonly string[]).includes(c)) {
        check.problem(
          [...p, i],
          `unknown drift dimension ${JSON.stringify(c)} (use ${DIMENSIONS.join(", ")})`,
        );
      }
    }
    return list;
  };
  const seconds = (p: KeyPath, v: unknown) => check.integer(p, v, 1, SECONDS_MAX);
  return VClusterPolicy.fromPartial({
    vclusterId,
    policyId: get("policy_id", check.string.bind(check)) ?? "",
    driftSensitivity: get("drift_sensitivity", check.number.bind(check)),
    baseCommitWindowSeconds: get("base_commit_window_seconds", seconds),
    emergencyWindowSeconds: get("emergency_window_seconds", seconds),
    autoConvergeCategories: get("auto_converge_categories", categories) ?? [],
    requireAckCategories: get("require_ack_categories", categories) ?? [],
    enforcementMode: get(
      "enforcement_mode",
      (p, v) => check.choice(p, v, ["observe", "warn", "enforce"]),
    ) ?? "",
    roleBindings: get("role_bindings", (p, v) => checkRoleBindings(check, p, v)) ?? [],
    regulated: get("regulated", check.boolean.bind(check)) ?? false,
    twoPersonApproval: get("two_person_approval", check.boolean.bind(check)) ?? false,
    emergencyAllowed: get("emergency_allowed", check.boolean.bind(check)),
    auditRetentionDays: get("audit_retention_days", (p, v) => check.integer(p, v, 1, 36_500)),
    aiExecAllowed: get("ai_exec_allowed", check.boolean.bind(check)) ?? false,
    federationTemplate: get("federation_template", check.string.bind(check)) ?? "",
    supervisorBackend: get("supervisor_backend", (p, v) =>
      check.choice(p, v, ["pact", "systemd"])) ??
      "",
    execWhitelist: get("exec_whitelist", check.stringArray.bind(check)) ?? [],
    shellWhitelist: get("shell_whitelist", check.stringArray.bind(check)) ?? [],
    approvalTimeoutSeconds: get("approval_timeout_seconds", seconds),
    identityMode: get(
      "identity_mode",
      (p, v) => check.choice(p, v, ["on-demand", "pre-provisioned"]),
    ) ?? "",
    blacklistPatterns: get("blacklist_patterns", check.stringArray.bind(check)) ?? [],
    driftWeights: get("drift_weights", (p, v) => checkWeights(check, p, v)),
    diagExtraLogPaths: get("diag_extra_log_paths", check.stringArray.bind(check)) ?? [],
  });
}

function checkRoleBindings(
  check: SpecChecker,
  path: KeyPath,
  value: unknown,
): RoleBinding[] | undefined {
  if (!Array.isArray(value)) {
    check.problem(
      path,
      "role_bindings must be a list of tables like { role = ..., principals = [...] }",
    );
    return undefined;
  }
  return value.flatMap((item, index) => {
    const p = [...path, index];
    const table: Table | undefined = check.table(p, item);
    if (!table) return [];
    check.keys(p, table, ROLE_BINDING_KEYS);
    if (table["role"] === undefined) check.problem(p, "role binding needs a role");
    return [{
      role: table["role"] === undefined ? "" : check.string([...p, "role"], table["role"]) ?? "",
      principals: table["principals"] === undefined
        ? []
        : check.stringArray([...p, "principals"], table["principals"]) ?? [],
      allowedActions: table["allowed_actions"] === undefined
        ? []
        : check.stringArray([...p, "allowed_actions"], table["allowed_actions"]) ?? [],
    }];
  });
}

function checkWeights(check: SpecChecker, path: KeyPath, value: unknown): DriftWeights | undefined {
  const table = check.table(path, value);
  if (!table) return undefined;
  check.keys(path, table, DIMENSIONS);
  const weight = (key: (typeof DIMENSIONS)[number]) =>
    table[key] === undefined ? 0 : check.number([...path, key], table[key]) ?? 0;
  return {
    mounts: weight("mounts"),
    files: weight("files"),
    network: weight("network"),
    services: weight("services"),
    kernel: weight("kernel"),
    packages: weight("packages"),
    gpu: weight("gpu"),
  };
}
