/**
 * The seven-dimension drift vector, its weights and its magnitude
 * (reference §2.4, D2–D4).
 *
 * Magnitude follows the spec side of the divergence the reference notes:
 * the weighted Euclidean norm sqrt(sum((w_i * d_i)^2)), so a weight scales
 * its dimension linearly (kernel weight 2 counts a kernel change like two
 * file changes). With w_i >= 0 and d_i >= 0 it is monotone in every d_i.
 */
import type { Category } from "../observe/observer_event.ts";

/** The drift dimensions, in wire order. */
export const DIMENSIONS = [
  "mounts",
  "files",
  "network",
  "services",
  "kernel",
  "packages",
  "gpu",
] as const;

/** One drift dimension. */
export type Dimension = typeof DIMENSIONS[number];

/** A value per dimension, all >= 0. */
export type DriftVector = Readonly<Record<Dimension, number>>;

/** Per-dimension weights; 0 ignores a dimension. */
export type DriftWeights = Readonly<Record<Dimension, number>>;

/** Reference defaults: kernel and gpu 2.0, the others 1.0. */
export const DEFAULT_WEIGHTS: DriftWeights = {
  mounts: 1,
  files: 1,
  network: 1,
  services: 1,
  kernel: 2,
  packages: 1,
  gpu: 2,
};

/** The zero vector. */
export const ZERO_VECTOR: DriftVector = {
  mounts: 0,
  files: 0,
  network: 0,
  services: 0,
  kernel: 0,
  packages: 0,
  gpu: 0,
};

const BY_CATEGORY: Readonly<Record<Category, Dimension>> = {
  mount: "mounts",
  file: "files",
  network: "network",
  service: "services",
  kernel: "kernel",
  package: "packages",
  gpu: "gpu",
};

/** The dimension an observer category counts toward. */
export function dimensionOf(category: Category): Dimension {
  return BY_CATEGORY[category];
}

/** Parses a dimension or category name (`kernel`, `mounts`, `mount`); undefined if unknown. */
export function parseDimension(text: string): Dimension | undefined {
  const name = text.trim().toLowerCase();
  if ((DIMENSIONS as readonly string[]).includes(name)) return name as Dimension;
  return BY_CATEGORY[name as Category];
}

/** Weighted Euclidean norm: sqrt(sum((weight * value)^2)). */
export function magnitude(vector: DriftVector, weights: DriftWeights = DEFAULT_WEIGHTS): number {
  let sum = 0;
  for (const dimension of DIMENSIONS) {
    const value = vector[dimension];
    const weight = weights[dimension];
    if (!(value >= 0) || !(weight >= 0)) {
      throw new RangeError(
        `Cannot compute a drift magnitude: ${dimension} has value ${value} and weight ${weight}`,
      );
    }
    sum += (weight * value) ** 2;
  }
  return Math.sqrt(sum);
}

/** `vector` with `amount` added to one dimension. */
export function addTo(vector: DriftVector, dimension: Dimension, amount = 1): DriftVector {
  return { ...vector, [dimension]: vector[dimension] + amount };
}

/** Builds a vector from some dimensions (the rest 0). */
export function vectorOf(values: Partial<Record<Dimension, number>>): DriftVector {
  return { ...ZERO_VECTOR, ...values };
}

/** Weights from a partial set (e.g. a vCluster policy's), defaults for the rest. */
export function weightsOf(values: Partial<Record<Dimension, number>> = {}): DriftWeights {
  const weights = { ...DEFAULT_WEIGHTS, ...values };
  for (const dimension of DIMENSIONS) {
    if (!(weights[dimension] >= 0)) {
      throw new RangeError(`Drift weight of ${dimension} must be 0 or more: ${weights[dimension]}`);
    }
  }
  return weights;
}
