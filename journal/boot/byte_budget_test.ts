import assert from "node:assert/strict";
import { ByteBudget } from "./byte_budget.ts";

const never = new AbortController().signal;

Deno.test("ByteBudget grants reservations in arrival order as bytes come back", async () => {
  const budget = new ByteBudget(100);
  assert.equal(await budget.reserve(60, never), true);
  const granted: string[] = [];
  const b = budget.reserve(60, never).then(() => granted.push("b"));
  const c = budget.reserve(10, never).then(() => granted.push("c"));
  await Promise.resolve();
  assert.deepEqual(granted, [], "c fits but must not overtake b");
  assert.equal(budget.waiting, 2);
  budget.release(60);
  await Promise.all([b, c]);
  assert.deepEqual(granted, ["b", "c"]);
  assert.equal(budget.used, 70);
});

Deno.test("ByteBudget grants an oversized reservation when nothing else is held", async () => {
  const budget = new ByteBudget(100);
  assert.equal(await budget.reserve(500, never), true);
  let second = false;
  const pending = budget.reserve(1, never).then((ok) => (second = ok));
  await Promise.resolve();
  assert.equal(second, false);
  budget.release(500);
  await pending;
  assert.equal(second, true);
  assert.equal(budget.used, 1);
});

Deno.test("ByteBudget drops a waiter whose call was cancelled and reserves nothing for it", async () => {
  const budget = new ByteBudget(100);
  await budget.reserve(100, never);
  const cancel = new AbortController();
  const cancelled = budget.reserve(50, cancel.signal);
  const next = budget.reserve(50, never);
  cancel.abort();
  assert.equal(await cancelled, false);
  assert.equal(budget.waiting, 1);
  budget.release(100);
  assert.equal(await next, true);
  assert.equal(budget.used, 50);
  assert.equal(await budget.reserve(1, cancel.signal), false, "an aborted signal reserves nothing");
  assert.throws(() => new ByteBudget(0), RangeError);
});
