/**
 * The evaluator's settings from agent.toml and, once the agent knows its
 * vCluster, that vCluster's policy: the policy wins wherever it says
 * something (reference §1.11.3: per-vCluster sensitivity, base and
 * emergency windows, weights, categories, enforcement mode, blacklist).
 */
import { PactError } from "../../shared/errors/mod.ts";
import type { VClusterPolicy } from "../../shared/proto/gen/pact/config/config.ts";
import type { AgentConfig, EnforcementMode } from "../config.ts";
import { type Dimension, DIMENSIONS, parseDimension, weightsOf } from "./drift_vector.ts";
import { evaluatorSettings } from "./evaluator.ts";
import type { EvaluatorSettings } from "./evaluator_types.ts";

/** Settings from agent.toml alone (no vCluster policy known yet). */
export function settingsFromConfig(config: AgentConfig): EvaluatorSettings {
  return settingsFromPolicy(config, undefined);
}

/**
 * Settings from agent.toml overridden by a vCluster policy. A weight of 0
 * in the policy's `drift_weights` means "not set" (protobuf cannot tell
 * the two apart, and `pact apply` fills missing dimensions with 0), so it
 * keeps the default weight.
 */
export function settingsFromPolicy(
  config: AgentConfig,
  policy: VClusterPolicy | undefined,
): EvaluatorSettings {
  const window = {
    baseWindowSeconds: policy?.baseCommitWindowSeconds || config.commitWindow.baseWindowSeconds,
    driftSensitivity: policy?.driftSensitivity ?? config.commitWindow.driftSensitivity,
    minWindowSeconds: config.commitWindow.minWindowSeconds,
  };
  const weights = policy?.driftWeights === undefined ? undefined : weightsOf(
    Object.fromEntries(
      DIMENSIONS.map((d) => [d, policy.driftWeights![d]]).filter(([, w]) => w !== 0),
    ),
  );
  return evaluatorSettings({
    mode: policy?.enforcementMode ? modeOf(policy.enforcementMode) : config.enforcementMode,
    window: {
      ...window,
      minWindowSeconds: Math.min(window.minWindowSeconds, window.baseWindowSeconds),
    },
    emergencyWindowSeconds: policy?.emergencyWindowSeconds ||
      config.commitWindow.emergencyWindowSeconds,
    blacklist: policy?.blacklistPatterns.length ? policy.blacklistPatterns : config.blacklist,
    ...(weights === undefined ? {} : { weights }),
    autoConverge: dimensionsOf(policy?.autoConvergeCategories ?? [], "auto_converge_categories"),
    requireAck: dimensionsOf(policy?.requireAckCategories ?? [], "require_ack_categories"),
    emergencyAllowed: policy?.emergencyAllowed ?? true,
  });
}

function modeOf(text: string): EnforcementMode {
  const mode = text.trim().toLowerCase();
  if (mode === "observe" || mode === "warn" || mode === "enforce") return mode;
  throw new PactError(
    "VALIDATION",
    `Invalid enforcement_mode ${
      JSON.stringify(text)
    } in the vCluster policy (use observe, warn or enforce)`,
  );
}

function dimensionsOf(names: readonly string[], field: string): Dimension[] {
  return names.map((name) => {
    const dimension = parseDimension(name);
    if (dimension === undefined) {
      throw new PactError(
        "VALIDATION",
        `Invalid ${field} entry ${JSON.stringify(name)} in the vCluster policy (use ${
          DIMENSIONS.join(", ")
        })`,
      );
    }
    return dimension;
  });
}
