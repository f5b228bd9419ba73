/**
 * The policy that applies to a vCluster: the journaled VClusterPolicy with
 * every documented default filled in (reference §1.11.3), or the default
 * policy (permissive, observe-only) for a vCluster without one.
 */
import { VClusterPolicy } from "../../shared/proto/gen/pact/config/config.ts";
import type { JournalState } from "../state/state.ts";

/** Default approval timeout: 30 minutes. */
export const APPROVAL_TIMEOUT_SECONDS_DEFAULT = 1800;

/** `policy_id` reported for a vCluster that has no journaled policy. */
export const DEFAULT_POLICY_ID = "default";

/** The stored policy of `vclusterId` with defaults applied. */
export function effectivePolicy(state: JournalState, vclusterId: string): VClusterPolicy {
  return withDefaults(vclusterId, state.vclusters.get(vclusterId)?.policy);
}

/** `policy` (or none) with every absent field at its documented default. */
export function withDefaults(
  vclusterId: string,
  policy: VClusterPolicy | undefined,
): VClusterPolicy {
  const base = policy ?? VClusterPolicy.fromPartial({ vclusterId, policyId: DEFAULT_POLICY_ID });
  return {
    ...base,
    vclusterId,
    policyId: base.policyId || DEFAULT_POLICY_ID,
    driftSensitivity: base.driftSensitivity ?? 2.0,
    baseCommitWindowSeconds: base.baseCommitWindowSeconds ?? 900,
    emergencyWindowSeconds: base.emergencyWindowSeconds ?? 14_400,
    enforcementMode: base.enforcementMode || "observe",
    auditRetentionDays: base.auditRetentionDays ?? 2555,
    supervisorBackend: base.supervisorBackend || "pact",
    emergencyAllowed: base.emergencyAllowed ?? true,
    approvalTimeoutSeconds: base.approvalTimeoutSeconds ?? APPROVAL_TIMEOUT_SECONDS_DEFAULT,
    identityMode: base.identityMode || "on-demand",
  };
}
