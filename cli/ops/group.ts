/**
 * `pact group`: vClusters and their policies. Policies are read from the
 * journal's PolicyService (effective: every default filled in) and changed
 * with UpdatePolicy, which journals a PolicyUpdate entry that agents of the
 * vCluster receive through their config subscription.
 */
import { parse as parseToml, stringify as stringifyToml } from "smol-toml";
import type { VClusterPolicy } from "../../shared/proto/gen/pact/config/config.ts";
import { checkId } from "../../shared/domain/scope.ts";
import { PactError } from "../../shared/errors/mod.ts";
import { parseApplySpec } from "./apply_spec.ts";
import type { JournalApi } from "./journal_port.ts";

/** One vCluster in `pact group list`. */
export interface GroupSummary {
  readonly vcluster: string;
  readonly nodes: number;
  readonly policy_id: string;
  readonly enforcement_mode: string;
  readonly regulated: boolean;
  readonly two_person_approval: boolean;
  readonly emergency_allowed: boolean;
  readonly approval_timeout_seconds: number;
  readonly updated_at: string | null;
}

/** `pact group show`: one vCluster, its nodes and its effective policy. */
export interface GroupDetail {
  readonly vcluster: string;
  readonly nodes: readonly string[];
  readonly updated_at: string | null;
  /** Every policy key (as in a `pact apply` spec) with its effective value. */
  readonly policy: Record<string, unknown>;
}

/** What `pact group set-policy` changed. */
export interface SetPolicyResult {
  readonly vcluster: string;
  readonly sequence: number | null;
  readonly policy_ref: string | null;
  readonly dry_run: boolean;
  /** Keys whose effective value changed: [before, after]. */
  readonly changes: Record<string, readonly [unknown, unknown]>;
  readonly policy: Record<string, unknown>;
}

/** `pact group list`. */
export async function listGroups(journal: JournalApi): Promise<GroupSummary[]> {
  const [{ policies }, { nodes }] = await Promise.all([
    journal.listPolicies(),
    journal.listNodeStates(""),
  ]);
  return policies.map((p) => ({
    vcluster: p.vclusterId,
    nodes: nodes.filter((n) => n.vclusterId === p.vclusterId).length,
    policy_id: p.policyId,
    enforcement_mode: p.enforcementMode,
    regulated: p.regulated,
    two_person_approval: p.twoPersonApproval,
    emergency_allowed: p.emergencyAllowed ?? true,
    approval_timeout_seconds: p.approvalTimeoutSeconds ?? 1800,
    updated_at: p.updatedAt?.toISOString() ?? null,
  }));
}

/** `pact group show <name>`. */
export async function showGroup(journal: JournalApi, name: string): Promise<GroupDetail> {
  const vcluster = checkId("vcluster", name);
  const [policy, { nodes }] = await Promise.all([
    journal.getEffectivePolicy(vcluster),
    journal.listNodeStates(vcluster),
  ]);
  return {
    vcluster,
    nodes: nodes.map((n) => n.nodeId),
    updated_at: policy.updatedAt?.toISOString() ?? null,
    policy: policyTable(policy),
  };
}

/** What `pact group set-policy` was asked to do. */
export interface SetPolicyRequest {
  readonly vcluster: string;
  /** `key=value` pairs; values are TOML (`true`, `600`, `["a"]`), else taken as text. */
  readonly set: readonly string[];
  /** Keys to return to their default. */
  readonly unset: readonly string[];
  readonly message: string | undefined;
  readonly dryRun: boolean;
}

/**
 * `pact group set-policy`: reads the effective policy, changes the named
 * keys, checks the result with the `pact apply` policy rules and writes it
 * as the vCluster's new policy (platform admins only).
 */
export async function setGroupPolicy(
  journal: JournalApi,
  request: SetPolicyRequest,
): Promise<SetPolicyResult> {
  const vcluster = checkId("vcluster", request.vcluster);
  if (request.set.length === 0 && request.unset.length === 0) {
    throw new PactError(
      "INVALID_ARGUMENT",
      "Nothing to change: pass --set key=value or --unset key (see pact group set-policy --help)",
    );
  }
  const current = policyTable(await journal.getEffectivePolicy(vcluster));
  const table: Record<string, unknown> = { ...current };
  delete table["policy_id"];
  for (const key of request.unset) delete table[key];
  for (const pair of request.set) {
    const [key, value] = splitPair(pair);
    table[key] = value;
  }
  const policy = checkedPolicy(vcluster, table);
  const after = policyTable(policy);
  const changes: Record<string, readonly [unknown, unknown]> = {};
  for (const key of Object.keys(after)) {
    if (key === "policy_id") continue;
    if (JSON.stringify(current[key]) !== JSON.stringify(after[key])) {
      changes[key] = [current[key], after[key]];
    }
  }
  if (request.dryRun) {
    return { vcluster, sequence: null, policy_ref: null, dry_run: true, changes, policy: after };
  }
  const response = await journal.updatePolicy({
    vclusterId: vcluster,
    policy,
    message: request.message ?? `pact group set-policy ${vcluster}`,
  });
  return {
    vcluster,
    sequence: response.sequence,
    policy_ref: response.policyRef,
    dry_run: false,
    changes,
    policy: after,
  };
}

function splitPair(pair: string): [string, unknown] {
  const eq = pair.indexOf("=");
  const key = eq < 0 ? "" : pair.slice(0, eq).trim();
  if (key === "") {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Invalid --set ${JSON.stringify(pair)}: expected key=value, e.g. two_person_approval=true`,
    );
  }
  const text = pair.slice(eq + 1).trim();
  try {
    return [key, parseToml(`value = ${text}`)["value"]];
  } catch {
    // Not a TOML value: a bare word such as `enforce` is meant as text.
    return [key, text];
  }
}

/** Runs the `pact apply` policy checks over `table`; every problem in one error. */
function checkedPolicy(vcluster: string, table: Record<string, unknown>): VClusterPolicy {
  const text = stringifyToml({ vcluster: { [vcluster]: { policy: table } } });
  const parsed = parseApplySpec(text);
  if (!parsed.ok) {
    const problems = parsed.problems.map((p) => p.message.replace(`vcluster.${vcluster}.`, ""));
    throw new PactError(
      "INVALID_ARGUMENT",
      `Cannot set the policy of ${vcluster}: ${problems.join("; ")}`,
    );
  }
  const policy = parsed.spec.vclusters[0]?.policy;
  if (!policy) throw new PactError("INTERNAL", "The policy check returned no policy");
  return policy;
}

/** A policy as the table of a `pact apply` spec: every key, effective values. */
export function policyTable(p: VClusterPolicy): Record<string, unknown> {
  return {
    policy_id: p.policyId,
    enforcement_mode: p.enforcementMode || "observe",
    regulated: p.regulated,
    two_person_approval: p.twoPersonApproval,
    approval_timeout_seconds: p.approvalTimeoutSeconds ?? 1800,
    emergency_allowed: p.emergencyAllowed ?? true,
    emergency_window_seconds: p.emergencyWindowSeconds ?? 14_400,
    ai_exec_allowed: p.aiExecAllowed,
    drift_sensitivity: p.driftSensitivity ?? 2.0,
    base_commit_window_seconds: p.baseCommitWindowSeconds ?? 900,
    auto_converge_categories: p.autoConvergeCategories,
    require_ack_categories: p.requireAckCategories,
    role_bindings: p.roleBindings.map((b) => ({
      role: b.role,
      principals: b.principals,
      allowed_actions: b.allowedActions,
    })),
    exec_whitelist: p.execWhitelist,
    shell_whitelist: p.shellWhitelist,
    audit_retention_days: p.auditRetentionDays ?? 2555,
    supervisor_backend: p.supervisorBackend || "pact",
    identity_mode: p.identityMode || "on-demand",
    federation_template: p.federationTemplate,
    blacklist_patterns: p.blacklistPatterns,
    diag_extra_log_paths: p.diagExtraLogPaths,
    ...(p.driftWeights ? { drift_weights: { ...p.driftWeights } } : {}),
  };
}
