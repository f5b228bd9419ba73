/**
 * When the agent renews its certificate (reference §2.10): at 2/3 of the
 * lifetime by default (day 2 of 3), or, when
 * `[agent.enrollment] renewal_before_expiry_seconds` is set, that long
 * before expiry. The configured point is clamped into the second half of
 * the lifetime: a window longer than the certificate's lifetime would
 * otherwise renew on every maintenance tick, and a renewal in the first
 * half would halve the time each certificate is used.
 */

/** The spec's renewal fraction (RenewalConfig, reference §3.9). */
export const DEFAULT_RENEW_FRACTION = 2 / 3;

/** How the renewal point is chosen. */
export interface RenewalRule {
  /** Fraction of the lifetime after which to renew. Default 2/3. */
  readonly fraction?: number;
  /** Renew this long before expiry instead; undefined: the fraction decides. */
  readonly beforeExpiryMs?: number | undefined;
}

/** The time (ms) at which a certificate valid from `notBeforeMs` to `notAfterMs` is renewed. */
export function renewalTimeMs(notBeforeMs: number, notAfterMs: number, rule: RenewalRule): number {
  const lifetimeMs = notAfterMs - notBeforeMs;
  if (rule.beforeExpiryMs === undefined) {
    return notBeforeMs + lifetimeMs * (rule.fraction ?? DEFAULT_RENEW_FRACTION);
  }
  if (!(rule.beforeExpiryMs > 0)) {
    throw new RangeError(`renewal before expiry must be positive: got ${rule.beforeExpiryMs} ms`);
  }
  return Math.max(notBeforeMs + lifetimeMs / 2, notAfterMs - rule.beforeExpiryMs);
}
