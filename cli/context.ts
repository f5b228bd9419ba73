import { PactError } from "../shared/errors/mod.ts";
import type { TokenCache } from "./auth/token_cache.ts";
import type { JournalApi } from "./ops/journal_port.ts";
import {
  type GlobalFlags,
  resolveSettings,
  type Settings,
  type SettingsSources,
} from "./settings.ts";

/** Where a command's output goes. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

/**
 * What commands share: the merged settings, the output streams, and a
 * lazily created journal client (so that commands that never call the
 * journal never load gRPC).
 */
export class CliContext {
  readonly io: Io;
  readonly #flags: () => GlobalFlags;
  readonly #sources: SettingsSources;
  #settings: Promise<Settings> | undefined;
  #journal: { close(): void } | undefined;
  /** Exit code of a command that succeeded but reports a problem (e.g. a degraded quorum). */
  #exitCode = 0;

  constructor(flags: () => GlobalFlags, sources: SettingsSources, io: Io) {
    this.#flags = flags;
    this.#sources = sources;
    this.io = io;
  }

  /** Settings after flags > environment > cli.toml > defaults. */
  settings(): Promise<Settings> {
    this.#settings ??= resolveSettings(this.#flags(), this.#sources);
    return this.#settings;
  }

  /** One environment variable, from the injected sources. */
  env(name: string): string | undefined {
    return this.#sources.env(name);
  }

  /** The token cache of `pact login` in the config directory. */
  async tokenCache(): Promise<TokenCache> {
    const settings = await this.settings();
    const { TokenCache, permissionMode } = await import("./auth/token_cache.ts");
    return new TokenCache(
      settings.configDir,
      permissionMode(settings.tokenCachePermissions),
      (text) => this.io.err(`${text}\n`),
    );
  }

  /**
   * A client for the journal. The token is --token, PACT_TOKEN, cli.toml or
   * the token file, else the session `pact login` cached for the endpoint
   * (the cache's default server when no endpoint was given), refreshed
   * silently; without any, it fails with exit code 2.
   */
  async journal(): Promise<JournalApi> {
    const settings = await this.settings();
    let { endpoint, token } = settings;
    if (!token) ({ endpoint, token } = await this.#cachedSession(settings));
    if (!token) {
      throw new PactError(
        "UNAUTHENTICATED",
        "Not authenticated: run `pact login`, set PACT_TOKEN, or pass --token",
      );
    }
    const { JournalClient } = await import("./client/journal_client.ts");
    const client = new JournalClient({
      endpoint,
      token,
      timeoutSeconds: settings.timeoutSeconds,
    });
    this.#journal = client;
    return client;
  }

  /**
   * The caller's token for the journal and the agents (the same IdP issues
   * it): --token, PACT_TOKEN, cli.toml or the token file, else `pact
   * login`'s cached session; exit code 2 without any.
   */
  async token(): Promise<string> {
    const settings = await this.settings();
    const token = settings.token ?? (await this.#cachedSession(settings)).token;
    if (!token) {
      throw new PactError(
        "UNAUTHENTICATED",
        "Not authenticated: run `pact login`, set PACT_TOKEN, or pass --token",
      );
    }
    return token;
  }

  async #cachedSession(settings: Settings): Promise<{ endpoint: string; token?: string }> {
    const cache = await this.tokenCache();
    const { serverKey } = await import("./auth/token_cache.ts");
    const { accessToken, defaultServer } = await import("./auth/session.ts");
    const endpoint = settings.endpointExplicit
      ? settings.endpoint
      : (await defaultServer(cache)) ?? settings.endpoint;
    const secret = this.env("PACT_CLIENT_SECRET");
    const clientId = this.env("PACT_CLIENT_ID");
    const token = await accessToken(serverKey(endpoint), {
      cache,
      http: fetch,
      nowSeconds: () => Math.floor(Date.now() / 1000),
      clientCredentials: secret && clientId ? { clientId, clientSecret: secret } : undefined,
    });
    return token === undefined ? { endpoint } : { endpoint, token };
  }

  /** Prints `data` as JSON, or as `text(data)` in text mode. */
  async print<T>(data: T, text: (data: T) => string): Promise<void> {
    const settings = await this.settings();
    this.io.out(settings.output === "json" ? `${JSON.stringify(data, null, 2)}\n` : text(data));
  }

  /** Sets the exit code the CLI returns when the command finishes without an error. */
  setExitCode(code: number): void {
    this.#exitCode = code;
  }

  get exitCode(): number {
    return this.#exitCode;
  }

  /** Releases the journal connection, if one was opened. */
  close(): void {
    this.#journal?.close();
  }
}
