import assert from "node:assert/strict";
import { DEFAULT_WINDOW, windowSeconds } from "./commit_window.ts";

Deno.test("windowSeconds() gives every value of the reference table at the defaults", () => {
  // Reference §2.5: base 900 s, sensitivity 2.0; the reference quotes the
  // values rounded ("~818") and 562.5 truncated, so each is within 0.5 s.
  const table: [number, number, number][] = [
    [0.05, 818, 818.1818],
    [0.15, 692, 692.3077],
    [0.3, 562, 562.5],
    [0.5, 450, 450],
    [0.8, 346, 346.1538],
    [1.0, 300, 300],
    [5.0, 82, 81.8182],
  ];
  for (const [magnitude, quoted, exact] of table) {
    const seconds = windowSeconds(magnitude);
    assert.ok(seconds !== undefined);
    assert.ok(Math.abs(seconds - exact) < 1e-4, `magnitude ${magnitude}: ${seconds} s`);
    assert.ok(Math.abs(seconds - quoted) <= 0.5, `magnitude ${magnitude}: ${seconds} s`);
  }
  assert.equal(windowSeconds(0.5), 450, "exact where the formula is exact");
  assert.equal(windowSeconds(1.0), 300);
});

Deno.test("windowSeconds() compresses more with higher sensitivity (5.0, 0.8 -> 180 s)", () => {
  const seconds = windowSeconds(0.8, { ...DEFAULT_WINDOW, driftSensitivity: 5.0 });
  assert.ok(seconds !== undefined);
  assert.ok(Math.abs(seconds - 180) < 1e-9);
  assert.ok(seconds < windowSeconds(0.8)!);
});

Deno.test("windowSeconds() opens no window at magnitude 0", () => {
  assert.equal(windowSeconds(0), undefined);
});

Deno.test("windowSeconds() never goes below the 60 s minimum", () => {
  assert.equal(windowSeconds(10), 60, "900 / 21 = 42.9 s is clamped");
  assert.equal(windowSeconds(1e9), 60);
  assert.equal(windowSeconds(7), 60, "900 / 15 = 60 exactly");
  assert.equal(windowSeconds(2, { ...DEFAULT_WINDOW, minWindowSeconds: 200 }), 200);
});

Deno.test("windowSeconds() with sensitivity 0 is always the base window", () => {
  assert.equal(windowSeconds(3, { ...DEFAULT_WINDOW, driftSensitivity: 0 }), 900);
});

Deno.test("windowSeconds() refuses nonsensical inputs", () => {
  assert.throws(() => windowSeconds(-1), RangeError);
  assert.throws(() => windowSeconds(NaN), RangeError);
  assert.throws(() => windowSeconds(1, { ...DEFAULT_WINDOW, baseWindowSeconds: 0 }), RangeError);
  assert.throws(() => windowSeconds(1, { ...DEFAULT_WINDOW, driftSensitivity: -1 }), RangeError);
});
