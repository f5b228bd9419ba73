import assert from "node:assert/strict";
import {
  DEFAULT_WEIGHTS,
  dimensionOf,
  DIMENSIONS,
  type DriftVector,
  type DriftWeights,
  magnitude,
  parseDimension,
  vectorOf,
  weightsOf,
  ZERO_VECTOR,
} from "./drift_vector.ts";

/** mulberry32: a small seeded PRNG, so a failure reproduces from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("DIMENSIONS has exactly the seven reference dimensions", () => {
  assert.deepEqual([...DIMENSIONS], [
    "mounts",
    "files",
    "network",
    "services",
    "kernel",
    "packages",
    "gpu",
  ]);
  assert.equal(dimensionOf("mount"), "mounts");
  assert.equal(dimensionOf("package"), "packages");
  assert.equal(parseDimension("Kernel"), "kernel");
  assert.equal(parseDimension("service"), "services");
  assert.equal(parseDimension("security"), undefined);
});

Deno.test("magnitude() is zero for no drift", () => {
  assert.equal(magnitude(ZERO_VECTOR), 0);
});

Deno.test("magnitude() weighs kernel drift higher than file drift", () => {
  const kernel = magnitude(vectorOf({ kernel: 1 }));
  const files = magnitude(vectorOf({ files: 1 }));
  assert.equal(kernel, 2, "sqrt((2 * 1)^2)");
  assert.equal(files, 1);
  assert.equal(magnitude(vectorOf({ gpu: 1 })), 2);
});

Deno.test("magnitude() compounds drift across dimensions (weighted Euclidean norm)", () => {
  const both = magnitude(vectorOf({ files: 3, kernel: 2 }));
  assert.equal(both, 5, "sqrt(3^2 + (2 * 2)^2)");
  assert.ok(both > magnitude(vectorOf({ files: 3 })));
  assert.ok(both > magnitude(vectorOf({ kernel: 2 })));
});

Deno.test("magnitude() ignores a dimension whose weight is 0", () => {
  const weights = weightsOf({ files: 0 });
  assert.equal(magnitude(vectorOf({ files: 100 }), weights), 0);
  assert.equal(magnitude(vectorOf({ files: 100, network: 1 }), weights), 1);
});

Deno.test("magnitude() refuses negative values or weights", () => {
  assert.throws(() => magnitude(vectorOf({ files: -1 })), RangeError);
  assert.throws(() => weightsOf({ kernel: -2 }), RangeError);
});

Deno.test("magnitude() is monotone in each dimension (property, seeded, 2,000 random vectors)", () => {
  const seed = 20260101;
  const random = prng(seed);
  const randomVector = (): DriftVector =>
    Object.fromEntries(
      DIMENSIONS.map((d) => [d, random() < 0.3 ? 0 : random() * 50]),
    ) as DriftVector;
  const randomWeights = (): DriftWeights =>
    Object.fromEntries(
      DIMENSIONS.map((d) => [d, random() < 0.2 ? 0 : random() * 5]),
    ) as DriftWeights;
  for (let i = 0; i < 2_000; i++) {
    const vector = randomVector();
    const weights = i % 2 === 0 ? DEFAULT_WEIGHTS : randomWeights();
    const base = magnitude(vector, weights);
    assert.ok(base >= 0, `seed ${seed}, case ${i}: magnitude is never negative`);
    for (const dimension of DIMENSIONS) {
      const bump = random() * 10;
      const bigger = magnitude({ ...vector, [dimension]: vector[dimension] + bump }, weights);
      assert.ok(
        bigger >= base,
        `seed ${seed}, case ${i}: raising ${dimension} by ${bump} lowered ${base} to ${bigger}`,
      );
      if (weights[dimension] > 0 && bump > 0) {
        assert.ok(bigger > base, `seed ${seed}, case ${i}: a weighted ${dimension} must count`);
      }
    }
  }
});
