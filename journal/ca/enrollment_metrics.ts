import { Counter, type Registry } from "prom-client";

/** Enrollment counters on the journal's registry. */
export class EnrollmentMetrics {
  /** Enroll and RenewCert calls by outcome: `ok` or the refusal rule. */
  readonly requests: Counter<"rpc" | "outcome">;
  /** Enroll calls refused by the rate limit (not journaled, only counted). */
  readonly rateLimited: Counter;

  constructor(registry: Registry) {
    this.requests = new Counter({
      name: "pact_enrollment_requests_total",
      help: "Enroll and RenewCert calls, by outcome (ok or the refusal rule)",
      labelNames: ["rpc", "outcome"] as const,
      registers: [registry],
    });
    this.rateLimited = new Counter({
      name: "pact_enrollment_rate_limited_total",
      help: "Enroll calls refused by the rate limit",
      registers: [registry],
    });
  }
}
