import * as jose from "jose";
import { type Clock, systemClock } from "../clock/clock.ts";

/** The only asymmetric algorithms pact accepts, each pinned to one key type. */
export type AsymmetricAlg = "RS256" | "ES256";

/** A verification key with the one algorithm it may be used with. */
export interface PinnedKey {
  readonly kid: string | undefined;
  readonly alg: AsymmetricAlg;
  readonly key: jose.CryptoKey | Uint8Array;
}

/** Why no key could be found for a token. */
export type KeyLookupFailure = "unknown_key" | "keys_unavailable";

/** No key for a token: unknown `kid`, or the JWKS was never fetched. */
export class KeyLookupError extends Error {
  readonly failure: KeyLookupFailure;

  constructor(failure: KeyLookupFailure, message: string) {
    super(message);
    this.name = "KeyLookupError";
    this.failure = failure;
  }
}

/** How the JWKS is fetched and cached. */
export interface JwksCacheOptions {
  readonly url: string;
  /** Age after which keys are refreshed in the background. Default 10 minutes. */
  readonly maxAgeMs?: number;
  /** Least time between two fetches (unknown `kid`, failed refresh). Default 30 s. */
  readonly cooldownMs?: number;
  /** Per-fetch timeout. Default 5 s. */
  readonly timeoutMs?: number;
  /** Largest accepted JWKS document. Default 256 KiB. */
  readonly maxBytes?: number;
  readonly fetch?: typeof fetch;
  readonly clock?: Clock;
  /** Told about each failed fetch (the previous keys stay in use). */
  readonly onFetchFailed?: (error: Error) => void;
}

const DEFAULT_MAX_AGE_MS = 10 * 60_000;
const DEFAULT_COOLDOWN_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_MAX_BYTES = 256 * 1024;

/**
 * The IdP's signing keys, fetched from its JWKS URL and cached. Stale keys
 * are refreshed in the background and stay in use while the IdP is
 * unreachable, so tokens signed by a known key keep working through an
 * outage; an unknown `kid` triggers at most one fetch per cooldown, so a
 * flood of forged `kid`s cannot hammer the IdP.
 */
export class JwksCache {
  readonly #options: JwksCacheOptions;
  readonly #clock: Clock;
  #keys: PinnedKey[] = [];
  /** When keys were last fetched successfully; undefined: never. */
  #fetchedAtMs: number | undefined;
  /** When a fetch was last started; undefined: never. */
  #attemptedAtMs: number | undefined;
  #inFlight: Promise<void> | undefined;
  #lastError: Error | undefined;

  constructor(options: JwksCacheOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** The cached keys (for tests and diagnostics). */
  get keys(): readonly PinnedKey[] {
    return this.#keys;
  }

  /**
   * The key for a token header. Throws KeyLookupError when no cached or
   * freshly fetched key matches, and a TypeError-free `Error` never.
   */
  async keyFor(kid: string | undefined, alg: AsymmetricAlg): Promise<PinnedKey> {
    if (this.#fetchedAtMs === undefined) {
      await this.#refresh(false);
      if (this.#fetchedAtMs === undefined) {
        throw new KeyLookupError(
          "keys_unavailable",
          `the signing keys cannot be fetched from ${this.#options.url}: ${
            this.#lastError?.message ?? "no answer"
          }`,
        );
      }
    } else if (this.#age() > (this.#options.maxAgeMs ?? DEFAULT_MAX_AGE_MS)) {
      void this.#refresh(true);
    }
    const found = this.#find(kid, alg);
    if (found) return found;
    await this.#refresh(true);
    const refetched = this.#find(kid, alg);
    if (refetched) return refetched;
    throw new KeyLookupError(
      "unknown_key",
      kid === undefined
        ? `no single ${alg} key in the JWKS matches a token without \`kid\``
        : `no ${alg} key with kid ${JSON.stringify(kid.slice(0, 64))} in the JWKS`,
    );
  }

  #age(): number {
    return this.#clock.now() - (this.#fetchedAtMs ?? 0);
  }

  #find(kid: string | undefined, alg: AsymmetricAlg): PinnedKey | undefined {
    if (kid !== undefined) return this.#keys.find((k) => k.kid === kid && k.alg === alg);
    const candidates = this.#keys.filter((k) => k.alg === alg);
    return candidates.length === 1 ? candidates[0] : undefined;
  }

  /** One fetch at a time; with `respectCooldown`, none within the cooldown of the last. */
  #refresh(respectCooldown: boolean): Promise<void> {
    if (this.#inFlight) return this.#inFlight;
    const cooldown = this.#options.cooldownMs ?? DEFAULT_COOLDOWN_MS;
    const now = this.#clock.now();
    if (
      respectCooldown && this.#attemptedAtMs !== undefined &&
      now - this.#attemptedAtMs < cooldown
    ) {
      return Promise.resolve();
    }
    this.#attemptedAtMs = now;
    this.#inFlight = this.#fetchKeys()
      .then((keys) => {
        this.#keys = keys;
        this.#fetchedAtMs = this.#clock.now();
        this.#lastError = undefined;
      }, (err: Error) => {
        this.#lastError = err;
        this.#options.onFetchFailed?.(err);
      })
      .finally(() => this.#inFlight = undefined);
    return this.#inFlight;
  }

  async #fetchKeys(): Promise<PinnedKey[]> {
    const fetcher = this.#options.fetch ?? fetch;
    const response = await fetcher(this.#options.url, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(this.#options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    }).catch((err: Error) => {
      throw new Error(err.name === "TimeoutError" ? "timed out" : err.message.split("\n")[0]);
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`HTTP ${response.status}`);
    }
    const text = await response.text();
    const maxBytes = this.#options.maxBytes ?? DEFAULT_MAX_BYTES;
    if (text.length > maxBytes) throw new Error(`JWKS larger than ${maxBytes} bytes`);
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch {
      throw new Error("JWKS is not JSON");
    }
    const jwks = (document as { keys?: unknown })?.keys;
    if (!Array.isArray(jwks)) throw new Error("JWKS has no `keys` array");
    const keys: PinnedKey[] = [];
    for (const jwk of jwks as jose.JWK[]) {
      const alg = pinnedAlg(jwk);
      if (alg === undefined) continue;
      try {
        keys.push({ kid: jwk.kid, alg, key: await jose.importJWK({ ...jwk, alg }, alg) });
      } catch {
        // A malformed key is skipped; the others still serve.
      }
    }
    return keys;
  }
}

/**
 * The one algorithm a JWK may verify: RSA keys RS256, P-256 keys ES256.
 * Keys for encryption, symmetric keys (`oct`, which would allow HS/RS
 * confusion) and keys announcing any other `alg` are ignored.
 */
export function pinnedAlg(jwk: jose.JWK): AsymmetricAlg | undefined {
  if (jwk.use !== undefined && jwk.use !== "sig") return undefined;
  const alg: AsymmetricAlg | undefined = jwk.kty === "RSA"
    ? "RS256"
    : jwk.kty === "EC" && jwk.crv === "P-256"
    ? "ES256"
    : undefined;
  if (alg === undefined) return undefined;
  if (jwk.alg !== undefined && jwk.alg !== alg) return undefined;
  return alg;
}
