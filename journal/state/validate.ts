import { type ConfigEntry, EntryType } from "../../shared/proto/gen/pact/config/config.ts";
import { entryTypeName } from "../../shared/domain/entry_type.ts";
import { fromProtoScope, isValidId, type ScopeRef } from "../../shared/domain/scope.ts";
import { sha256Hex } from "../../shared/hash.ts";
import {
  MESSAGE_CHARS_MAX,
  METADATA_KEYS_MAX,
  METADATA_VALUE_CHARS_MAX,
  OVERLAY_BYTES_MAX,
  REQUEST_ID_CHARS_MAX,
  TTL_SECONDS_MAX,
  TTL_SECONDS_MIN,
} from "./limits.ts";
import { checkApproval } from "./approvals.ts";
import { checkEnrollmentEntry } from "./enrollments.ts";
import { PAYLOAD_RULES } from "./payload_rules.ts";
import type { JournalState } from "./state.ts";
import { ValidationError } from "./validation_error.ts";

/**
 * Checks `entry` against the journal's rules and the current state. Pure:
 * the same state and entry always give the same verdict on every replica.
 * Returns the entry's parsed scope; throws ValidationError otherwise.
 */
export function validateEntry(state: JournalState, entry: ConfigEntry): ScopeRef {
  const type = checkType(entry);
  const scope = checkScope(entry, type);
  checkAuthor(entry);
  checkParent(state, entry);
  checkTtl(entry);
  checkSizes(entry);
  checkPayload(entry, type);
  checkEmergency(state, entry, type, scope);
  checkApproval(state, entry);
  checkEnrollmentEntry(state.enrollment, entry);
  return scope;
}

function checkType(entry: ConfigEntry): EntryType {
  const type = entry.entryType;
  if (!PAYLOAD_RULES.has(type)) {
    throw new ValidationError("ENTRY_TYPE_REQUIRED", `Entry type required: got ${type}`);
  }
  return type;
}

function checkScope(entry: ConfigEntry, type: EntryType): ScopeRef {
  const scope = fromProtoScope(entry.scope);
  if (scope === undefined) {
    throw new ValidationError("SCOPE_REQUIRED", "Scope required: set global, a vCluster or a node");
  }
  if (scope.kind !== "global" && !isValidId(scope.id)) {
    throw new ValidationError(
      "SCOPE_REQUIRED",
      `Scope id is not valid: ${JSON.stringify(scope.id)}`,
    );
  }
  const wanted = PAYLOAD_RULES.get(type)!.scope;
  if (wanted !== "any" && scope.kind !== wanted) {
    throw new ValidationError(
      "SCOPE_MISMATCH",
      `${entryTypeName(type)} entries must be ${wanted}-scoped: got ${scope.kind}`,
    );
  }
  return scope;
}

function checkAuthor(entry: ConfigEntry): void {
  if (!entry.author?.principal) {
    throw new ValidationError("AUTHOR_PRINCIPAL_REQUIRED", "Author principal required");
  }
  if (!entry.author.role) {
    throw new ValidationError("AUTHOR_ROLE_REQUIRED", "Author role required");
  }
}

function checkParent(state: JournalState, entry: ConfigEntry): void {
  if (entry.parent !== undefined && entry.parent >= state.nextSequence) {
    throw new ValidationError(
      "PARENT_NOT_PRECEDING",
      `Parent must precede entry: parent is ${entry.parent}, next sequence is ${state.nextSequence}`,
    );
  }
}

function checkTtl(entry: ConfigEntry): void {
  const ttl = entry.ttlSeconds;
  if (ttl === undefined || ttl === 0) return;
  if (ttl < TTL_SECONDS_MIN) {
    throw new ValidationError(
      "TTL_TOO_SHORT",
      `TTL must be >= ${TTL_SECONDS_MIN} seconds (15 minutes): got ${ttl}`,
    );
  }
  if (ttl > TTL_SECONDS_MAX) {
    throw new ValidationError(
      "TTL_TOO_LONG",
      `TTL must be <= ${TTL_SECONDS_MAX} seconds (10 days): got ${ttl}`,
    );
  }
}

function checkSizes(entry: ConfigEntry): void {
  const tooLarge = (what: string, size: number, max: number) => {
    throw new ValidationError("FIELD_TOO_LARGE", `${what} too large: ${size} exceeds ${max}`);
  };
  if (entry.message.length > MESSAGE_CHARS_MAX) {
    tooLarge("Message", entry.message.length, MESSAGE_CHARS_MAX);
  }
  if (entry.emergencyReason.length > MESSAGE_CHARS_MAX) {
    tooLarge("Emergency reason", entry.emergencyReason.length, MESSAGE_CHARS_MAX);
  }
  if (entry.requestId.length > REQUEST_ID_CHARS_MAX) {
    tooLarge("Request id", entry.requestId.length, REQUEST_ID_CHARS_MAX);
  }
  const keys = Object.keys(entry.metadata);
  if (keys.length > METADATA_KEYS_MAX) tooLarge("Metadata", keys.length, METADATA_KEYS_MAX);
  for (const key of keys) {
    const value = entry.metadata[key]!;
    if (value.length > METADATA_VALUE_CHARS_MAX) {
      tooLarge(`Metadata value ${JSON.stringify(key)}`, value.length, METADATA_VALUE_CHARS_MAX);
    }
  }
}

function checkPayload(entry: ConfigEntry, type: EntryType): void {
  const rule = PAYLOAD_RULES.get(type)!;
  const payload = entry.payload;
  if (payload === undefined) {
    if (rule.required) {
      throw new ValidationError(
        "PAYLOAD_MISMATCH",
        `${entryTypeName(type)} entries need a ${rule.allowed.join(" or ")} payload`,
      );
    }
    return;
  }
  if (!rule.allowed.includes(payload.$case)) {
    throw new ValidationError(
      "PAYLOAD_MISMATCH",
      `${entryTypeName(type)} entries cannot carry a ${payload.$case} payload`,
    );
  }
  if (payload.$case === "overlay") checkOverlay(entry, payload.value);
  if (payload.$case === "policy") checkPolicyScope(entry, payload.value.vclusterId);
}

function checkOverlay(
  entry: ConfigEntry,
  overlay: { vclusterId: string; data: Uint8Array; checksum: string },
): void {
  checkPolicyScope(entry, overlay.vclusterId);
  if (overlay.data.length > OVERLAY_BYTES_MAX) {
    throw new ValidationError(
      "OVERLAY_TOO_LARGE",
      `Overlay too large: ${overlay.data.length} bytes exceeds ${OVERLAY_BYTES_MAX}`,
    );
  }
  const actual = sha256Hex(overlay.data);
  if (overlay.checksum.toLowerCase() !== actual) {
    throw new ValidationError(
      "OVERLAY_CHECKSUM_MISMATCH",
      `Overlay checksum mismatch: entry says ${
        overlay.checksum || "(none)"
      }, data hashes to ${actual}`,
    );
  }
}

/** Payloads that name a vCluster must name the entry's own scope. */
function checkPolicyScope(entry: ConfigEntry, vclusterId: string): void {
  const scope = fromProtoScope(entry.scope);
  if (vclusterId !== "" && scope?.kind === "vcluster" && scope.id !== vclusterId) {
    throw new ValidationError(
      "SCOPE_MISMATCH",
      `Payload names vCluster ${JSON.stringify(vclusterId)} but the entry is scoped to ${
        JSON.stringify(scope.id)
      }`,
    );
  }
}

function checkEmergency(
  state: JournalState,
  entry: ConfigEntry,
  type: EntryType,
  scope: ScopeRef,
): void {
  if (scope.kind !== "node") return;
  const active = state.nodes.get(scope.id)?.emergency;
  if (type === EntryType.EMERGENCY_START) {
    if (entry.emergencyReason.trim() === "") {
      throw new ValidationError("EMERGENCY_REASON_REQUIRED", "Emergency reason required");
    }
    if (active !== undefined) {
      throw new ValidationError(
        "EMERGENCY_ALREADY_ACTIVE",
        `Emergency mode already active on node ${scope.id} (since seq:${active.startSequence})`,
      );
    }
  }
  if (type === EntryType.EMERGENCY_END && active === undefined) {
    throw new ValidationError(
      "EMERGENCY_NOT_ACTIVE",
      `Emergency mode is not active on node ${scope.id}`,
    );
  }
}
