/**
 * `pact diff` views. Against the agent: the node's declared vs actual
 * state, its drift, vector, commit window and emergency (GetDrift).
 * Journal-only (`--committed`): the node's committed deltas that are not
 * in its vCluster's overlay yet, one line per key with the committing
 * entry's sequence and age.
 *
 * A committed delta is a node-scoped Commit entry carrying a StateDelta.
 * It no longer counts once a Rollback entry names it as parent (`pact
 * rollback <seq>`), once its TTL has run out, or, key by key, once a later
 * vCluster-scoped Commit (`pact apply`, a promote) set the same key.
 */
import { toProtoScope } from "../../shared/domain/scope.ts";
import { checkId } from "../../shared/domain/scope.ts";
import {
  type ConfigEntry,
  DeltaAction,
  EntryType,
  type StateDelta,
} from "../../shared/proto/gen/pact/config/config.ts";
import type { DriftItemView, GetDriftResponse } from "../../shared/proto/gen/pact/shell/shell.ts";
import {
  declaredItemKeys,
  itemKey,
  kernelItemKey,
  stateDeltaItemKeys,
} from "../../journal/boot/item_keys.ts";
import type { JournalApi } from "./journal_port.ts";

/** What the agent ops call (AgentClient, or a fake in tests). */
export interface DriftAgentApi {
  getDrift(): Promise<GetDriftResponse>;
}

/** One key in `pact diff` output. */
export interface DiffItem {
  readonly dimension: string;
  readonly key: string;
  readonly declared: string | null;
  readonly actual: string | null;
  readonly detail: string;
  readonly source: string;
  readonly first_seen: string | null;
  /**
   * A merge conflict (reference §2.19): the node changed the key locally
   * and the journal changed it to another value. `pact commit` keeps the
   * local value, `pact rollback` applies the journal's; past
   * `grace_period_expires` the journal's value is applied.
   */
  readonly conflict?: MergeConflictView | null;
}

/** Both sides of a merge conflict, and when its grace period ends. */
export interface MergeConflictView {
  readonly local: string;
  readonly journal: string;
  readonly journal_sequence: number;
  readonly detected_at: string;
  readonly grace_period_expires: string;
}

const CONFLICT_DETAIL =
  /^merge conflict: local ("(?:[^"\\]|\\.)*"), journal ("(?:[^"\\]|\\.)*") \(seq:(\d+)\), detected_at (\S+), grace_period_expires (\S+)$/;

/** The merge conflict an agent's drift detail describes, or null. */
export function conflictOf(detail: string): MergeConflictView | null {
  const m = CONFLICT_DETAIL.exec(detail);
  if (m === null) return null;
  return {
    local: JSON.parse(m[1]!),
    journal: JSON.parse(m[2]!),
    journal_sequence: Number(m[3]),
    detected_at: m[4]!,
    grace_period_expires: m[5]!,
  };
}

/** `pact diff <node>` as printed and as `--json` emits it. */
export interface DriftView {
  readonly node: string;
  readonly vcluster: string | null;
  readonly enforcement_mode: string;
  readonly declared_diff: readonly DiffItem[];
  readonly drift: readonly DiffItem[];
  readonly vector: Readonly<Record<string, number>>;
  readonly magnitude: number;
  readonly window: {
    readonly state: string;
    readonly opened_at: string | null;
    readonly deadline: string | null;
    readonly seconds_left: number | null;
    readonly blocked_by: readonly string[];
  };
  readonly emergency: {
    readonly active: boolean;
    readonly admin: string | null;
    readonly reason: string | null;
    readonly started_at: string | null;
    readonly expires_at: string | null;
    readonly stale: boolean;
  };
  readonly blacklist: readonly string[];
}

/** Asks the node's agent for its drift. */
export async function nodeDrift(api: DriftAgentApi): Promise<DriftView> {
  const r = await api.getDrift();
  const time = (ms: number) => ms === 0 ? null : new Date(ms).toISOString();
  const item = (i: DriftItemView): DiffItem => ({
    dimension: i.dimension,
    key: i.key,
    declared: i.declared === "" ? null : i.declared,
    actual: i.actual === "" ? null : i.actual,
    detail: i.detail,
    source: i.source,
    first_seen: time(i.firstSeenMs),
    conflict: conflictOf(i.detail),
  });
  const window = r.window;
  const emergency = r.emergency;
  return {
    node: r.nodeId,
    vcluster: r.vcluster === "" ? null : r.vcluster,
    enforcement_mode: r.enforcementMode,
    declared_diff: r.declaredDiff.map(item),
    drift: r.drift.map(item),
    vector: Object.fromEntries(r.vector.map((d) => [d.dimension, d.value])),
    magnitude: Math.round(r.magnitude * 1000) / 1000,
    window: {
      state: window?.state ?? "idle",
      opened_at: time(window?.openedAtMs ?? 0),
      deadline: time(window?.deadlineMs ?? 0),
      seconds_left: window?.state === "open" ? window.secondsLeft : null,
      blocked_by: window?.blockedBy ?? [],
    },
    emergency: {
      active: emergency?.active ?? false,
      admin: emergency?.active ? emergency.admin : null,
      reason: emergency?.active ? emergency.reason : null,
      started_at: time(emergency?.startedAtMs ?? 0),
      expires_at: time(emergency?.expiresAtMs ?? 0),
      stale: emergency?.stale ?? false,
    },
    blacklist: r.blacklist,
  };
}

/** One committed key of a node (the latest commit of that key wins). */
export interface CommittedItem {
  /** kernel, mounts, files, services, network, packages or gpu. */
  readonly dimension: string;
  readonly key: string;
  /** add, modify or remove. */
  readonly action: string;
  /** The committed value, in the overlay's terms (e.g. `1024`, `type=nfs source=...`). */
  readonly value: string;
  /** Structured fields for promote (mount type/source, file hash...). */
  readonly fields: Readonly<Record<string, string>>;
  readonly sequence: number;
  readonly committed_at: string | null;
  readonly age_seconds: number | null;
  readonly author: string | null;
  readonly ttl_seconds: number | null;
  /** The overlay item key (`sysctl:vm.x`, `mount:/p`...); null for GPU items. */
  readonly item_key: string | null;
}

/** `pact diff --committed <node>`. */
export interface CommittedView {
  readonly node: string;
  readonly vcluster: string | null;
  readonly items: readonly CommittedItem[];
  /** Sequences of the Commit entries the items come from. */
  readonly sequences: readonly number[];
}

/** The node's committed deltas not yet in its vCluster's overlay, read from the journal. */
export async function committedDeltas(
  journal: JournalApi,
  nodeText: string,
  nowMs: number,
  vclusterHint?: string,
): Promise<CommittedView> {
  const node = checkId("node", nodeText);
  const vcluster = await vclusterOf(journal, node) ?? vclusterHint;
  const entries = await journal.listEntries({
    scope: toProtoScope({ kind: "node", id: node }),
    entryTypes: [EntryType.COMMIT, EntryType.ROLLBACK],
  });
  const overlayKeys = vcluster === undefined
    ? new Map<string, number>()
    : await overlayKeySequences(
      journal,
      vcluster,
    );
  const items = foldCommitted(entries, overlayKeys, nowMs);
  return {
    node,
    vcluster: vcluster ?? null,
    items,
    sequences: [...new Set(items.map((i) => i.sequence))].sort((a, b) => a - b),
  };
}

/** The node's vCluster as the journal has it; undefined when unassigned or unknown. */
export async function vclusterOf(journal: JournalApi, node: string): Promise<string | undefined> {
  try {
    return (await journal.getNodeState(node)).vclusterId || undefined;
  } catch {
    return undefined;
  }
}

/** Per overlay item key, the sequence of the latest vCluster-scoped Commit/Rollback that set it. */
export async function overlayKeySequences(
  journal: JournalApi,
  vcluster: string,
): Promise<Map<string, number>> {
  const entries = await journal.listEntries({
    scope: toProtoScope({ kind: "vcluster", id: vcluster }),
    entryTypes: [EntryType.COMMIT, EntryType.ROLLBACK],
  });
  const keys = new Map<string, number>();
  for (const entry of entries) {
    const payload = entry.payload;
    const touched = payload?.$case === "declared"
      ? declaredItemKeys(payload.value)
      : payload?.$case === "stateDelta"
      ? stateDeltaItemKeys(payload.value)
      : [];
    for (const key of touched) keys.set(key, Math.max(keys.get(key) ?? -1, entry.sequence));
  }
  return keys;
}

/** Pure: the committed items of a node's Commit/Rollback entries (oldest first). */
export function foldCommitted(
  entries: readonly ConfigEntry[],
  overlayKeys: ReadonlyMap<string, number>,
  nowMs: number,
): CommittedItem[] {
  const rolledBack = new Set(
    entries.filter((e) => e.entryType === EntryType.ROLLBACK && e.parent !== undefined)
      .map((e) => e.parent!),
  );
  const latest = new Map<string, CommittedItem>();
  for (const entry of [...entries].sort((a, b) => a.sequence - b.sequence)) {
    if (entry.entryType !== EntryType.COMMIT || entry.payload?.$case !== "stateDelta") continue;
    if (rolledBack.has(entry.sequence)) continue;
    const at = entry.timestamp?.getTime();
    const ttl = entry.ttlSeconds ?? 0;
    if (ttl > 0 && at !== undefined && at + ttl * 1000 <= nowMs) continue;
    for (const item of itemsOf(entry.payload.value)) {
      if (item.itemKey !== null && (overlayKeys.get(item.itemKey) ?? -1) > entry.sequence) continue;
      latest.set(`${item.dimension}:${item.key}`, {
        dimension: item.dimension,
        key: item.key,
        action: actionName(item.action),
        value: item.value,
        fields: item.fields,
        sequence: entry.sequence,
        committed_at: at === undefined ? null : new Date(at).toISOString(),
        age_seconds: at === undefined ? null : Math.max(0, Math.round((nowMs - at) / 1000)),
        author: entry.author?.principal || null,
        ttl_seconds: ttl > 0 ? ttl : null,
        item_key: item.itemKey,
      });
    }
  }
  return [...latest.values()].sort((a, b) => a.sequence - b.sequence || a.key.localeCompare(b.key));
}

interface RawItem {
  readonly dimension: string;
  readonly key: string;
  readonly action: DeltaAction;
  readonly value: string;
  readonly fields: Record<string, string>;
  readonly itemKey: string | null;
}

function itemsOf(delta: StateDelta): RawItem[] {
  const out: RawItem[] = [];
  const words = (fields: Record<string, string>) =>
    Object.entries(fields).filter(([, v]) => v !== "").map(([k, v]) => `${k}=${v}`).join(" ");
  for (const k of delta.kernel) {
    out.push({
      dimension: "kernel",
      key: k.key,
      action: k.action,
      value: k.actualValue,
      fields: { value: k.actualValue },
      itemKey: kernelItemKey(k),
    });
  }
  for (const m of delta.mounts) {
    const fields = {
      type: m.actual?.fsType ?? "",
      source: m.actual?.source ?? "",
      options: m.actual?.options ?? "",
      ...(m.actual?.readOnly ? { read_only: "true" } : {}),
    };
    out.push({
      dimension: "mounts",
      key: m.path,
      action: m.action,
      value: words(fields),
      fields,
      itemKey: itemKey.mount(m.path),
    });
  }
  for (const f of delta.files) {
    const fields = { content_hash: f.contentHash, mode: f.mode, owner: f.owner };
    out.push({
      dimension: "files",
      key: f.path,
      action: f.action,
      value: words(fields),
      fields,
      itemKey: itemKey.file(f.path),
    });
  }
  for (const s of delta.services) {
    out.push({
      dimension: "services",
      key: s.name,
      action: s.action,
      value: s.actualState,
      fields: { state: s.actualState },
      itemKey: itemKey.service(s.name),
    });
  }
  for (const n of delta.network) {
    out.push({
      dimension: "network",
      key: n.interface,
      action: n.action,
      value: n.detail,
      fields: { address: n.detail },
      itemKey: itemKey.network(n.interface),
    });
  }
  for (const p of delta.packages) {
    out.push({
      dimension: "packages",
      key: p.name,
      action: p.action,
      value: p.version,
      fields: { version: p.version },
      itemKey: itemKey.package(p.name),
    });
  }
  for (const g of delta.gpu) {
    out.push({
      dimension: "gpu",
      key: `gpu[${g.gpuIndex}]`,
      action: g.action,
      value: g.detail,
      fields: { detail: g.detail },
      itemKey: null,
    });
  }
  return out;
}

function actionName(action: DeltaAction): string {
  switch (action) {
    case DeltaAction.ADD:
      return "add";
    case DeltaAction.REMOVE:
      return "remove";
    default:
      return "modify";
  }
}

/** `3 days ago`, `5 min ago`, `just now`. */
export function ageText(seconds: number | null): string {
  if (seconds === null) return "unknown age";
  if (seconds < 60) return "just now";
  const units: [number, string][] = [[86_400, "day"], [3_600, "hour"], [60, "min"]];
  for (const [size, name] of units) {
    if (seconds >= size) {
      const n = Math.floor(seconds / size);
      return `${n} ${name}${n === 1 || name === "min" ? "" : "s"} ago`;
    }
  }
  return "just now";
}
