/**
 * Keeps the journal's CA: loads the site CA or makes sure the log names an
 * ephemeral one, and hands out the CA the log currently names. The CA is
 * settled on first use (the first Enroll or GetCaBundle), so a journal
 * that never enrolls a node writes no CA entry. Replicas
 * share an ephemeral CA through its CA_ROTATED entry (compare-and-swap on
 * the previous fingerprint, so that two replicas starting together end up
 * with one CA); a site CA's key stays in each journal's files and only its
 * fingerprint is journaled.
 */
import type { Clock } from "../../shared/clock/clock.ts";
import { isPactError, PactError } from "../../shared/errors/mod.ts";
import {
  ConfigEntry,
  EntryType,
  type Identity,
} from "../../shared/proto/gen/pact/config/config.ts";
import { toProtoScope } from "../../shared/domain/scope.ts";
import type { Journal } from "../core/journal.ts";
import type { CaState } from "../state/enrollments.ts";
import { EnrollmentError } from "../state/enrollments.ts";
import { CertificateAuthority } from "./ca.ts";

/** What a CaKeeper is built from. */
export interface CaKeeperOptions {
  readonly journal: Journal;
  readonly clock: Clock;
  readonly domainId: string;
  /** The site CA from files; undefined: an ephemeral CA. */
  readonly site: CertificateAuthority | undefined;
  /** Validity of a generated CA. */
  readonly ephemeralValidityMs: number;
  /** A CA with less than this left is replaced at start (twice the certificate lifetime). */
  readonly renewBeforeMs: number;
  /** Who the journal writes CA_ROTATED entries as. */
  readonly author: Identity;
  /** False on a read replica: it waits for a writing journal to name the CA. */
  readonly canWrite: boolean;
}

const ROTATION_ATTEMPTS_MAX = 5;

/** The journal's CA, as the log names it. */
export class CaKeeper {
  readonly #options: CaKeeperOptions;
  #cached: CertificateAuthority | undefined;
  #ensuring: Promise<unknown> | undefined;

  constructor(options: CaKeeperOptions) {
    this.#options = options;
    this.#cached = options.site;
  }

  /**
   * Makes sure the log names a usable CA: the site CA, or an ephemeral CA
   * with enough validity left (generating and journaling one otherwise).
   * Returns what it did, for the start-up log.
   */
  async ensure(): Promise<"kept" | "rotated" | "waiting"> {
    const { journal, site } = this.#options;
    for (let attempt = 0; attempt < ROTATION_ATTEMPTS_MAX; attempt++) {
      const current = journal.state.enrollment.ca;
      if (this.#settled(current)) return "kept";
      if (!this.#options.canWrite) return "waiting";
      const next = site ?? await CertificateAuthority.generate(
        this.#options.domainId,
        this.#options.clock.now(),
        this.#options.ephemeralValidityMs,
      );
      try {
        await journal.append({ entry: await this.#rotation(next, current) });
        this.#cached = next;
        return "rotated";
      } catch (err) {
        // Another replica rotated first: look again at what the log names.
        if (!isPactError(err, "CONFLICT")) throw err;
      }
    }
    throw new PactError("INTERNAL", "Cannot settle the journal's CA: replicas keep rotating it");
  }

  /** The CA to sign with now; CA_UNAVAILABLE when the log names none this journal can use. */
  async current(): Promise<CertificateAuthority> {
    if (!this.#settled(this.#options.journal.state.enrollment.ca)) {
      // One settling at a time in this process; replicas race through the CAS.
      this.#ensuring ??= this.ensure().finally(() => (this.#ensuring = undefined));
      await this.#ensuring;
    }
    const state = this.#options.journal.state.enrollment.ca;
    if (state === undefined) {
      throw new EnrollmentError(
        "CA_UNAVAILABLE",
        "UNAVAILABLE",
        "The journal has no CA yet: retry shortly",
      );
    }
    if (this.#cached?.fingerprint === state.fingerprint) return this.#cached;
    if (state.keyPkcs8.length === 0) {
      throw new EnrollmentError(
        "CA_UNAVAILABLE",
        "UNAVAILABLE",
        `The journal log names site CA ${
          state.fingerprint.slice(0, 16)
        }…, which this journal has no key for: configure the same ca_cert_file/ca_key_file on every journal`,
      );
    }
    this.#cached = await CertificateAuthority.fromPkcs8(state.certPem, state.keyPkcs8, "ephemeral");
    return this.#cached;
  }

  /** True when the log names the CA this journal should sign with. */
  #settled(ca: CaState | undefined): boolean {
    const site = this.#options.site;
    if (site) return ca?.fingerprint === site.fingerprint;
    return ca !== undefined && ca.keyPkcs8.length > 0 &&
      ca.notAfterMs - this.#options.clock.now() > this.#options.renewBeforeMs;
  }

  async #rotation(next: CertificateAuthority, current: CaState | undefined): Promise<ConfigEntry> {
    return ConfigEntry.fromPartial({
      entryType: EntryType.CA_ROTATED,
      scope: toProtoScope({ kind: "global" }),
      author: this.#options.author,
      message: `${next.source} CA ${next.cert.subject} (sha256 ${next.fingerprint})`,
      payload: {
        $case: "ca",
        value: {
          certPem: next.certPem,
          keyPkcs8: next.source === "ephemeral" ? await next.exportKey() : new Uint8Array(),
          fingerprintSha256: next.fingerprint,
          previousFingerprintSha256: current?.fingerprint ?? "",
          source: next.source,
          notAfter: new Date(next.notAfterMs),
        },
      },
    });
  }
}
