import assert from "node:assert/strict";
import { backoffDelayMs } from "./backoff.ts";

Deno.test("backoffDelayMs doubles from the base and stops at the cap", () => {
  assert.deepEqual([0, 1, 2, 5, 6, 40, 2000].map((n) => backoffDelayMs(n, 1_000, 60_000)), [
    1_000,
    2_000,
    4_000,
    32_000,
    60_000,
    60_000,
    60_000,
  ]);
});
