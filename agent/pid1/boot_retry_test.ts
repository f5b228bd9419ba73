import assert from "node:assert/strict";
import { bootWithRetries, retryDelayMs } from "./boot_retry.ts";

Deno.test("boot retry delays double from 1 s and stop at 60 s", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 10].map((n) => retryDelayMs(n)), [
    1_000,
    2_000,
    4_000,
    8_000,
    16_000,
    32_000,
    60_000,
    60_000,
  ]);
});

Deno.test("as PID 1 a failed boot is retried until it succeeds", async () => {
  let calls = 0;
  const lines: string[] = [];
  const result = await bootWithRetries(() => Promise.resolve(++calls < 3 ? 1 : "node"), {
    asInit: true,
    firstDelayMs: 1,
    stopped: new Promise(() => {}),
    log: (line) => lines.push(line),
  });
  assert.equal(result, "node");
  assert.equal(calls, 3);
  assert.match(lines[0]!, /retry 1\/30 in 0.001 s/);
});

Deno.test("outside PID 1 the first failure is returned at once", async () => {
  let calls = 0;
  const result = await bootWithRetries(() => Promise.resolve((calls++, 4)), {
    asInit: false,
    stopped: new Promise(() => {}),
    log: () => {},
  });
  assert.equal(result, 4);
  assert.equal(calls, 1);
});

Deno.test("after the last retry PID 1 stays up until it is asked to stop", async () => {
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  let calls = 0;
  let settled = false;
  const lines: string[] = [];
  const running = bootWithRetries(() => Promise.resolve((calls++, 1)), {
    asInit: true,
    maxRetries: 2,
    firstDelayMs: 1,
    stopped,
    log: (line) => lines.push(line),
  }).then((code) => ((settled = true), code));
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(calls, 3, "the boot and two retries");
  assert.equal(settled, false, "still up after the retries");
  assert.match(lines.at(-1)!, /BootFailed after 2 retries; staying up/);
  stop();
  assert.equal(await running, 1);
});

Deno.test("a stop during the backoff ends the retries", async () => {
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  let calls = 0;
  const running = bootWithRetries(() => Promise.resolve((calls++, 1)), {
    asInit: true,
    firstDelayMs: 60_000,
    stopped,
    log: () => {},
  });
  stop();
  assert.equal(await running, 1);
  assert.equal(calls, 1);
});
