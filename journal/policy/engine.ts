/**
 * The journal's policy engine: RBAC with per-vCluster scope, then OPA when
 * an endpoint is configured, then two-person approval where the vCluster's
 * policy requires it.
 *
 * Degraded mode (OPA unreachable, reference ADR-011): decisions RBAC can
 * make from the journaled role bindings stand (logged as degraded); what
 * only OPA could allow and everything that needs an approval is denied. It
 * never allows everything. Degraded mode ends with the next answer from OPA
 * (a decision or the background health probe).
 *
 *   ┌──────────┐  OPA call fails   ┌──────────┐
 *   │ healthy  │ ────────────────▶ │ degraded │
 *   └──────────┘ ◀──────────────── └──────────┘
 *                 OPA answers (decision or probe)
 */
import { getLogger } from "@logtape/logtape";
import type { Principal } from "../../shared/auth/principal.ts";
import type { Clock } from "../../shared/clock/clock.ts";
import { parseRole } from "../../shared/domain/roles.ts";
import type { ScopeRef } from "../../shared/domain/scope.ts";
import type { VClusterPolicy } from "../../shared/proto/gen/pact/config/config.ts";
import type { JournalState } from "../state/state.ts";
import { type Action, APPROVAL_ACTIONS, OPA_ACTIONS } from "./actions.ts";
import { effectivePolicy, withDefaults } from "./effective_policy.ts";
import { type OpaClient, type OpaInput, OpaUnavailableError } from "./opa_client.ts";
import { evaluateRbac, type Target } from "./rbac.ts";

const log = getLogger(["pact", "journal", "policy"]);

/** One authorization question. */
export interface AuthorizeRequest {
  readonly principal: Principal;
  readonly action: Action;
  readonly scope: ScopeRef;
  /** The command line of an exec or shell action, for OPA rules. */
  readonly command?: string;
}

/** The engine's answer. `policyRef` names the deciding rule (`rbac:<policy>:<action>`, ...). */
export type PolicyDecision =
  | { readonly kind: "allow"; readonly policyRef: string; readonly degraded: boolean }
  | {
    readonly kind: "deny";
    /** PERMISSION_DENIED: the role may not (exit 2); POLICY_DENIED: a policy rule refused (exit 3). */
    readonly code: "PERMISSION_DENIED" | "POLICY_DENIED";
    readonly reason: string;
    readonly policyRef: string;
    readonly degraded: boolean;
  }
  | {
    readonly kind: "approval";
    readonly policyRef: string;
    readonly vclusterId: string;
    readonly timeoutSeconds: number;
    readonly degraded: false;
  };

/** What `pact status` and the metrics show about the engine. */
export interface PolicyStatus {
  /** `rbac`, or `rbac+opa` with an OPA endpoint. */
  readonly engine: "rbac" | "rbac+opa";
  readonly degraded: boolean;
  readonly reason: string;
  readonly sinceMs: number | undefined;
}

/** Callbacks for metrics; none may throw. */
export interface PolicyEngineHooks {
  onDecision?(outcome: PolicyDecision["kind"], engine: "rbac" | "opa", seconds: number): void;
  onDegradedDecision?(outcome: PolicyDecision["kind"]): void;
  onOpaError?(reason: string): void;
}

/** What a PolicyEngine is built from. */
export interface PolicyEngineOptions {
  readonly opa?: OpaClient | undefined;
  readonly clock: Clock;
  readonly hooks?: PolicyEngineHooks;
}

/** Decides every authorization of the journal. */
export class PolicyEngine {
  readonly #opa: OpaClient | undefined;
  readonly #clock: Clock;
  readonly #hooks: PolicyEngineHooks;
  #degraded: { reason: string; sinceMs: number } | undefined;

  constructor(options: PolicyEngineOptions) {
    this.#opa = options.opa;
    this.#clock = options.clock;
    this.#hooks = options.hooks ?? {};
  }

  /** Whether OPA is configured and reachable. */
  status(): PolicyStatus {
    return {
      engine: this.#opa ? "rbac+opa" : "rbac",
      degraded: this.#degraded !== undefined,
      reason: this.#degraded?.reason ?? "",
      sinceMs: this.#degraded?.sinceMs,
    };
  }

  /** Decides whether `request.principal` may do `request.action` on its scope now. */
  async authorize(state: JournalState, request: AuthorizeRequest): Promise<PolicyDecision> {
    const started = performance.now();
    const target = targetOf(state, request.scope);
    const policy = target.vcluster === undefined
      ? withDefaults("", undefined)
      : effectivePolicy(state, target.vcluster);
    let engine: "rbac" | "opa" = "rbac";
    const decision = await this.#decide(request, target, policy, () => (engine = "opa"));
    this.#hooks.onDecision?.(decision.kind, engine, (performance.now() - started) / 1000);
    if (decision.degraded) {
      this.#hooks.onDegradedDecision?.(decision.kind);
      log.warn("Degraded decision ({outcome}) for {principal}: {action} on {scope}", {
        outcome: decision.kind,
        principal: request.principal.principal,
        action: request.action,
        scope: target.vcluster ?? request.scope.kind,
      });
    }
    return decision;
  }

  /** Asks OPA's health endpoint once; updates the degraded state. No-op without OPA. */
  async probe(): Promise<void> {
    if (!this.#opa) return;
    try {
      await this.#opa.probe();
      this.#healthy();
    } catch (err) {
      this.#unreachable(err);
    }
  }

  /** Probes OPA every `intervalMs` in the background; returns a stop function. */
  startProbing(intervalMs: number): () => void {
    if (!this.#opa) return () => {};
    void this.probe();
    const timer = setInterval(() => void this.probe(), intervalMs);
    Deno.unrefTimer(timer);
    return () => clearInterval(timer);
  }

  async #decide(
    request: AuthorizeRequest,
    target: Target,
    policy: VClusterPolicy,
    usedOpa: () => void,
  ): Promise<PolicyDecision> {
    const { action } = request;
    const policyId = policy.policyId;
    const rbac = evaluateRbac({
      principal: request.principal,
      action,
      target,
      policy,
      opaConfigured: this.#opa !== undefined,
    });
    if (rbac.kind === "deny") {
      return denied("PERMISSION_DENIED", rbac.reason, `rbac:denied:${action}`, false);
    }
    if (action === "emergency_start" && policy.emergencyAllowed === false) {
      return denied(
        "POLICY_DENIED",
        `emergency mode is not allowed on vCluster ${policy.vclusterId} (policy emergency_allowed = false)`,
        `policy:${policyId}:emergency_allowed`,
        false,
      );
    }
    let degraded = false;
    let ref = rbac.kind === "allow" ? `rbac:${policyId}:${action}` : "";
    if (this.#opa && (rbac.kind === "defer" || OPA_ACTIONS.includes(action))) {
      usedOpa();
      try {
        const verdict = await this.#opa.decide(opaInput(request, target, policy));
        this.#healthy();
        if (!verdict.allow) {
          const why = verdict.reasons.length > 0 ? verdict.reasons.join("; ") : "no rule allows it";
          return denied(
            "POLICY_DENIED",
            `OPA denied ${action}: ${why}`,
            `opa:denied:${action}`,
            false,
          );
        }
        ref = `opa:${policyId}:${action}`;
      } catch (err) {
        if (!(err instanceof OpaUnavailableError)) throw err;
        this.#unreachable(err);
        degraded = true;
        if (rbac.kind === "defer") {
          return denied(
            "POLICY_DENIED",
            `${rbac.reason} can only be authorized by OPA, which is unreachable (degraded mode)`,
            `degraded:denied:${action}`,
            true,
          );
        }
        ref = `degraded:rbac:${policyId}:${action}`;
      }
    }
    // An agent's automatic rollback enforces what was approved already; it
    // never waits for a second person.
    const approvalNeeded = policy.twoPersonApproval && APPROVAL_ACTIONS.includes(action) &&
      parseRole(request.principal.role).kind !== "service-agent";
    if (approvalNeeded || (action === "approve" && this.#degraded)) {
      if (degraded || this.#degraded) {
        return denied(
          "POLICY_DENIED",
          `two-person approval is unavailable while OPA is unreachable (degraded mode): ${action} denied, not deferred`,
          `degraded:denied:${action}`,
          true,
        );
      }
      if (approvalNeeded) {
        return {
          kind: "approval",
          policyRef: `approval:${policyId}:${action}`,
          vclusterId: policy.vclusterId,
          timeoutSeconds: policy.approvalTimeoutSeconds ?? 1800,
          degraded: false,
        };
      }
    }
    return { kind: "allow", policyRef: ref, degraded };
  }

  #healthy(): void {
    if (this.#degraded) {
      log.info("OPA reachable again: leaving degraded mode");
      this.#degraded = undefined;
    }
  }

  #unreachable(err: unknown): void {
    const reason = err instanceof Error ? err.message : String(err);
    if (err instanceof OpaUnavailableError) this.#hooks.onOpaError?.(err.reason);
    if (!this.#degraded) {
      log.warn("OPA unreachable, entering degraded mode: {reason}", { reason });
      this.#degraded = { reason, sinceMs: this.#clock.now() };
    } else {
      this.#degraded = { ...this.#degraded, reason };
    }
  }
}

/** The vCluster a scope belongs to: itself, a node's assignment, or none. */
export function targetOf(state: JournalState, scope: ScopeRef): Target {
  switch (scope.kind) {
    case "global":
      return { scope, vcluster: undefined };
    case "vcluster":
      return { scope, vcluster: scope.id };
    case "node":
      return { scope, vcluster: state.nodes.get(scope.id)?.vclusterId || undefined };
  }
}

function denied(
  code: "PERMISSION_DENIED" | "POLICY_DENIED",
  reason: string,
  policyRef: string,
  degraded: boolean,
): PolicyDecision {
  return { kind: "deny", code, reason, policyRef, degraded };
}

function opaInput(request: AuthorizeRequest, target: Target, policy: VClusterPolicy): OpaInput {
  const { principal, scope } = request;
  return {
    identity: {
      principal: principal.principal,
      role: principal.role,
      principal_type: principal.principalType,
    },
    action: request.action,
    scope: {
      kind: scope.kind,
      id: scope.kind === "global" ? "" : scope.id,
      vcluster: target.vcluster ?? "",
    },
    command: request.command ?? "",
    policy: {
      policy_id: policy.policyId,
      regulated: policy.regulated,
      two_person_approval: policy.twoPersonApproval,
      emergency_allowed: policy.emergencyAllowed ?? true,
      ai_exec_allowed: policy.aiExecAllowed,
      exec_whitelist: policy.execWhitelist,
    },
  };
}
