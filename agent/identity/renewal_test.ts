import assert from "node:assert/strict";
import { ManualClock } from "../../shared/clock/clock.ts";
import { renewalTimeMs } from "./renewal.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

Deno.test("renewalTimeMs() renews a 3-day certificate on day 2 by default", () => {
  assert.equal(renewalTimeMs(0, 3 * DAY, {}), 2 * DAY);
});

Deno.test("renewalTimeMs() honours renewal_before_expiry_seconds when set", () => {
  // 12 h before the end of a 3-day certificate: later than the default.
  assert.equal(renewalTimeMs(0, 3 * DAY, { beforeExpiryMs: 12 * HOUR }), 60 * HOUR);
  // 30 h before: earlier than the default.
  assert.equal(renewalTimeMs(0, 3 * DAY, { beforeExpiryMs: 30 * HOUR }), 42 * HOUR);
});

Deno.test("renewalTimeMs() never renews in the first half of the lifetime", () => {
  // A window longer than the certificate (12 h window, 1 h certificate).
  assert.equal(renewalTimeMs(10 * HOUR, 11 * HOUR, { beforeExpiryMs: 12 * HOUR }), 10.5 * HOUR);
  assert.equal(renewalTimeMs(0, 3 * DAY, { beforeExpiryMs: 3 * DAY }), 1.5 * DAY);
});

Deno.test("renewalTimeMs() refuses a window that is not positive", () => {
  assert.throws(() => renewalTimeMs(0, DAY, { beforeExpiryMs: 0 }), RangeError);
});

Deno.test("renewalTimeMs() on a fake clock: due exactly when the window opens", () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const notBefore = clock.now();
  const notAfter = notBefore + 3 * DAY;
  const renewAt = renewalTimeMs(notBefore, notAfter, { beforeExpiryMs: 6 * HOUR });
  const due = () => clock.now() >= renewAt;
  clock.advance(66 * HOUR - 1);
  assert.equal(due(), false);
  clock.advance(1);
  assert.equal(due(), true);
  assert.equal(notAfter - clock.now(), 6 * HOUR);
});
