/**
 * The commit-window formula (reference §2.5, A3): window = base / (1 +
 * magnitude × sensitivity), never shorter than the configured minimum
 * (60 s by default). Magnitude 0 opens no window.
 */

/** Inputs of the formula. */
export interface WindowParameters {
  readonly baseWindowSeconds: number;
  readonly driftSensitivity: number;
  readonly minWindowSeconds: number;
}

/** Reference defaults: 900 s base, sensitivity 2.0, at least 60 s. */
export const DEFAULT_WINDOW: WindowParameters = {
  baseWindowSeconds: 900,
  driftSensitivity: 2.0,
  minWindowSeconds: 60,
};

/**
 * Window length in seconds for a drift magnitude, or undefined for
 * magnitude 0 (no drift, no window).
 */
export function windowSeconds(
  driftMagnitude: number,
  parameters: WindowParameters = DEFAULT_WINDOW,
): number | undefined {
  const { baseWindowSeconds: base, driftSensitivity: sensitivity, minWindowSeconds } = parameters;
  if (!(base > 0)) throw new RangeError(`Base window must be greater than 0: ${base}`);
  if (!(sensitivity >= 0)) throw new RangeError(`Sensitivity must be 0 or more: ${sensitivity}`);
  if (!(driftMagnitude >= 0)) {
    throw new RangeError(`Magnitude must be 0 or more: ${driftMagnitude}`);
  }
  if (driftMagnitude === 0) return undefined;
  return Math.max(minWindowSeconds, base / (1 + driftMagnitude * sensitivity));
}
