/**
 * `pact apply`: writes each vCluster section of a spec file as one
 * vCluster-scoped Commit carrying its overlay items (DeclaredState), plus a
 * PolicyUpdate when the section has a policy table. Nothing is written
 * unless the whole file checks out. vCluster sections are separate writes
 * (no cross-vCluster atomicity); a failure reports what was already applied.
 */
import {
  type ConfigEntry,
  type DeclaredState,
  EntryType,
  type VClusterPolicy,
} from "../../shared/proto/gen/pact/config/config.ts";
import { isPactError, PactError } from "../../shared/errors/mod.ts";
import { toJsonValue } from "../output/json_value.ts";
import { parseApplySpec, type VClusterSpec } from "./apply_spec.ts";
import { clientEntry } from "./entry.ts";
import type { JournalApi } from "./journal_port.ts";
import type { SpecProblem } from "./spec_checker.ts";

/** What `pact apply` was asked to do. */
export interface ApplyRequest {
  /** The spec's file name, for messages. */
  readonly file: string;
  readonly text: string;
  readonly dryRun: boolean;
  /** Journal message; default `pact apply <file name>`. */
  readonly message?: string | undefined;
}

/** What was (or would be) written for one vCluster. */
export interface AppliedVCluster {
  readonly vcluster: string;
  /** Overlay items written. */
  readonly changes: number;
  readonly items: readonly string[];
  readonly overlay_sequence: number | null;
  /** The policy's keys that differ from the defaults; null without a policy table. */
  readonly policy: Record<string, unknown> | null;
  readonly policy_sequence: number | null;
}

/** The outcome of `pact apply`. */
export interface ApplyResult {
  readonly file: string;
  readonly dry_run: boolean;
  readonly vclusters: readonly AppliedVCluster[];
}

/** A spec that failed its checks: every problem, one per line, with its line number. */
export class SpecError extends PactError {
  readonly problems: readonly SpecProblem[];

  constructor(file: string, problems: readonly SpecProblem[]) {
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    super(
      "INVALID_ARGUMENT",
      [
        `Cannot apply ${file}: ${count}, nothing written`,
        ...problems.map((p) => `${file}:${p.line}: ${p.message}`),
      ].join("\n"),
    );
    this.problems = problems;
  }
}

/** Checks the spec, then writes it (or, with `dryRun`, only describes it). */
export async function applySpec(
  journal: () => Promise<JournalApi>,
  request: ApplyRequest,
): Promise<ApplyResult> {
  const parsed = parseApplySpec(request.text);
  if (!parsed.ok) throw new SpecError(request.file, parsed.problems);
  const message = request.message ?? `pact apply ${baseName(request.file)}`;
  const planned = parsed.spec.vclusters.map(plan);
  if (request.dryRun) return { file: request.file, dry_run: true, vclusters: planned };
  const api = await journal();
  const applied: AppliedVCluster[] = [];
  for (const [i, spec] of parsed.spec.vclusters.entries()) {
    try {
      applied.push(await write(api, spec, planned[i]!, message));
    } catch (err) {
      throw partialFailure(applied, spec.vclusterId, err);
    }
  }
  return { file: request.file, dry_run: false, vclusters: applied };
}

async function write(
  api: JournalApi,
  spec: VClusterSpec,
  planned: AppliedVCluster,
  message: string,
): Promise<AppliedVCluster> {
  let overlaySequence: number | null = null;
  let policySequence: number | null = null;
  if (spec.declared) {
    overlaySequence = (await api.appendEntry({ entry: overlayEntry(spec, spec.declared, message) }))
      .sequence;
  }
  if (spec.policy) {
    policySequence = (await api.appendEntry({ entry: policyEntry(spec, spec.policy, message) }))
      .sequence;
  }
  return { ...planned, overlay_sequence: overlaySequence, policy_sequence: policySequence };
}

function partialFailure(
  applied: readonly AppliedVCluster[],
  failed: string,
  err: unknown,
): unknown {
  if (applied.length === 0 || !isPactError(err)) return err;
  const done = applied.map((a) => a.vcluster).join(", ");
  return new PactError(
    err.code,
    `Applied to vcluster ${done}, then failed on vcluster ${failed}: ${err.message}`,
    { cause: err },
  );
}

function plan(spec: VClusterSpec): AppliedVCluster {
  const items = spec.declared ? describeDeclared(spec.declared) : [];
  return {
    vcluster: spec.vclusterId,
    changes: items.length,
    items,
    overlay_sequence: null,
    policy: spec.policy ? policySummary(spec.policy) : null,
    policy_sequence: null,
  };
}

function baseEntry(spec: VClusterSpec, type: EntryType, message: string): ConfigEntry {
  return clientEntry(type, { kind: "vcluster", id: spec.vclusterId }, message);
}

/** The vCluster-scoped Commit carrying the section's overlay items. */
export function overlayEntry(
  spec: VClusterSpec,
  declared: DeclaredState,
  message: string,
): ConfigEntry {
  return {
    ...baseEntry(spec, EntryType.COMMIT, message),
    payload: { $case: "declared", value: declared },
  };
}

/** The PolicyUpdate carrying the section's policy. */
export function policyEntry(
  spec: VClusterSpec,
  policy: VClusterPolicy,
  message: string,
): ConfigEntry {
  return {
    ...baseEntry(spec, EntryType.POLICY_UPDATE, message),
    payload: { $case: "policy", value: policy },
  };
}

/** One human line per overlay item. */
export function describeDeclared(d: DeclaredState): string[] {
  const lines: string[] = [];
  if (d.baseImage) lines.push(`base_image ${d.baseImage}`);
  if (d.supervisorBackend) lines.push(`supervisor_backend ${d.supervisorBackend}`);
  for (const [key, value] of Object.entries(d.sysctl)) lines.push(`sysctl ${key} = ${value}`);
  for (const name of d.modules) lines.push(`module ${name}`);
  for (const m of d.mounts) {
    const s = m.spec;
    const options = s?.options ? ` (${s.options})` : "";
    lines.push(
      `mount ${m.path}: ${s?.fsType} ${s?.source}${options}${s?.readOnly ? " read-only" : ""}`,
    );
  }
  for (const f of d.files) {
    const parts = [
      f.mode && `mode ${f.mode}`,
      f.owner && `owner ${f.owner}`,
      f.contentHash && `content ${f.contentHash}`,
    ];
    lines.push(`file ${f.path}: ${parts.filter(Boolean).join(", ") || "declared"}`);
  }
  for (const s of d.services) {
    const command = [s.binary, ...s.args].filter(Boolean).join(" ");
    lines.push(`service ${s.name}${command ? `: ${command}` : ""}`);
  }
  for (const n of d.network) {
    const parts = [n.address, n.gateway && `via ${n.gateway}`, n.mtu && `mtu ${n.mtu}`];
    lines.push(`network ${n.interface}: ${parts.filter(Boolean).join(" ") || "declared"}`);
  }
  for (const [name, version] of Object.entries(d.packages)) {
    lines.push(`package ${name} = ${version}`);
  }
  return lines;
}

/** The policy fields that are set (non-empty), snake_case. */
function policySummary(policy: VClusterPolicy): Record<string, unknown> {
  const json = toJsonValue(policy) as Record<string, unknown>;
  return Object.fromEntries(
    Object.entries(json).filter(([key, value]) =>
      key !== "vcluster_id" && value !== "" && value !== false &&
      !(Array.isArray(value) && value.length === 0)
    ),
  );
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
