import {
  type EmergencyInfo,
  EnrollmentState,
  type NodeState,
} from "../../shared/proto/gen/pact/config/config.ts";
import type { NodeRecord } from "../state/state.ts";

/** The wire view of a node record. */
export function nodeStateOf(node: NodeRecord): NodeState {
  const emergency: EmergencyInfo | undefined = node.emergency && {
    reason: node.emergency.reason,
    admin: node.emergency.admin,
    startedAt: new Date(node.emergency.startedAtMs),
    expiresAt: new Date(node.emergency.expiresAtMs),
    startSequence: node.emergency.startSequence,
  };
  return {
    nodeId: node.nodeId,
    configState: node.configState,
    vclusterId: node.vclusterId,
    version: node.version,
    updatedAt: new Date(node.updatedAtMs),
    lastCommitSequence: node.lastCommitSequence,
    committedDeltas: node.committedDeltas,
    emergency,
    enrollmentState: EnrollmentState.UNSPECIFIED,
    lastSeen: undefined,
    lastBoot: node.lastBoot,
    driftEvents: node.driftEvents,
  };
}
