/**
 * Wires enrollment for `main.ts`: reads the site CA files (or settles an
 * ephemeral CA through the log), the rate limiter, the signer and metrics.
 */
import { getLogger } from "@logtape/logtape";
import type { Clock } from "../../shared/clock/clock.ts";
import { PactError } from "../../shared/errors/mod.ts";
import { PrincipalType } from "../../shared/proto/gen/pact/config/config.ts";
import type { JournalConfig } from "../config.ts";
import type { Journal } from "../core/journal.ts";
import type { JournalMetrics } from "../metrics.ts";
import { CertificateAuthority } from "./ca.ts";
import { CaKeeper } from "./ca_keeper.ts";
import { Enroller } from "./enroller.ts";
import { EnrollmentMetrics } from "./enrollment_metrics.ts";
import { RateLimiter } from "./rate_limiter.ts";

const log = getLogger(["pact", "journal", "enrollment"]);
const DAY_MS = 86_400_000;

/** Starts enrollment; the CA itself is settled on first use (see CaKeeper). */
export async function startEnrollment(
  config: JournalConfig,
  journal: Journal,
  metrics: JournalMetrics,
  clock: Clock,
) {
  const settings = config.enrollment;
  const site = settings.caCertFile && settings.caKeyFile
    ? await loadSiteCa(settings.caCertFile, settings.caKeyFile)
    : undefined;
  const certLifetimeMs = settings.certLifetimeSeconds * 1000;
  const ca = new CaKeeper({
    journal,
    clock,
    domainId: settings.domainId,
    site,
    ephemeralValidityMs: settings.ephemeralCaValidityDays * DAY_MS,
    renewBeforeMs: Math.min(2 * certLifetimeMs, (settings.ephemeralCaValidityDays * DAY_MS) / 2),
    author: {
      principal: `pact-journal/${config.nodeId}`,
      principalType: PrincipalType.SYSTEM,
      role: "pact-journal",
    },
    canWrite: !config.readOnly,
  });
  const current = journal.state.enrollment.ca;
  log.info("Enrollment domain {domain}: {ca}", {
    domain: settings.domainId,
    ca: site
      ? `site CA ${site.cert.subject} sha256 ${site.fingerprint}`
      : current?.source === "ephemeral"
      ? `ephemeral CA sha256 ${current.fingerprint} from the log`
      : "an ephemeral CA is generated on first use",
  });
  const enrollmentMetrics = new EnrollmentMetrics(metrics.registry);
  return {
    domainId: settings.domainId,
    ca,
    limiter: new RateLimiter(settings.rateLimitPerMinute, clock),
    metrics: enrollmentMetrics,
    enroller: new Enroller({
      journal,
      ca,
      clock,
      domainId: settings.domainId,
      certLifetimeMs,
      metrics: enrollmentMetrics,
    }),
  };
}

async function loadSiteCa(certFile: string, keyFile: string): Promise<CertificateAuthority> {
  const read = async (path: string, what: string) => {
    try {
      return await Deno.readTextFile(path);
    } catch (err) {
      const reason = err instanceof Deno.errors.NotFound
        ? "file not found"
        : err instanceof Deno.errors.PermissionDenied
        ? "permission denied"
        : (err as Error).message.split("\n", 1)[0]!;
      throw new PactError("CONFIG", `Cannot read the site CA ${what} ${path}: ${reason}`);
    }
  };
  try {
    return await CertificateAuthority.fromPem(
      await read(certFile, "certificate"),
      await read(keyFile, "key"),
    );
  } catch (err) {
    if (err instanceof PactError && !err.message.startsWith("Cannot read")) {
      throw new PactError("CONFIG", `Site CA ${certFile}: ${err.message}`);
    }
    throw err;
  }
}
