/**
 * The cached session of a server as commands use it: the access token,
 * refreshed silently with the refresh token shortly before it expires.
 * Refreshes are serialized across processes by the cache lock, and a
 * process that waited re-reads the cache first, so a rotated refresh token
 * is used exactly once.
 */
import { PactError } from "../../shared/errors/mod.ts";
import { type Fetch, OAuthError, requestToken } from "./oidc_client.ts";
import type { CachedSession, TokenCache, TokenCacheFile } from "./token_cache.ts";

/** Refresh when the access token has less than this left. */
export const REFRESH_MARGIN_SECONDS = 30;

/** What a session lookup needs. */
export interface SessionDeps {
  readonly cache: TokenCache;
  readonly http: Fetch;
  readonly nowSeconds: () => number;
  /** PACT_CLIENT_ID/PACT_CLIENT_SECRET, to renew client-credentials sessions. */
  readonly clientCredentials?: { clientId: string; clientSecret: string } | undefined;
}

/**
 * The server a command talks to when none was given: the cache's default
 * server (the first one logged into), else undefined.
 */
export async function defaultServer(cache: TokenCache): Promise<string | undefined> {
  return (await cache.read()).default_server;
}

/**
 * A valid access token for `server`, or undefined when there is no cached
 * session. Throws (exit 2) when the session cannot be renewed.
 */
export async function accessToken(server: string, deps: SessionDeps): Promise<string | undefined> {
  const session = (await deps.cache.read()).servers[server];
  if (session === undefined) return undefined;
  if (fresh(session, deps.nowSeconds())) return session.access_token;
  return await deps.cache.withLock(async () => {
    // Another process may have refreshed while this one waited for the lock.
    const cache = await deps.cache.read();
    const current = cache.servers[server];
    if (current === undefined) return undefined;
    if (fresh(current, deps.nowSeconds())) return current.access_token;
    const renewed = await renew(server, current, deps);
    await deps.cache.write({ ...cache, servers: { ...cache.servers, [server]: renewed } });
    return renewed.access_token;
  });
}

function fresh(session: CachedSession, nowSeconds: number): boolean {
  return session.expires_at - nowSeconds > REFRESH_MARGIN_SECONDS;
}

async function renew(
  server: string,
  session: CachedSession,
  deps: SessionDeps,
): Promise<CachedSession> {
  const now = deps.nowSeconds();
  const expired = session.expires_at <= now;
  const credentials = deps.clientCredentials;
  if (session.flow === "client-credentials" && credentials?.clientId === session.client_id) {
    const tokens = await requestToken(
      session.token_endpoint,
      { grant_type: "client_credentials" },
      deps.http,
      "Renewing the service-account token",
      credentials,
    );
    return {
      ...session,
      access_token: tokens.accessToken,
      expires_at: now + (tokens.expiresIn ?? 300),
    };
  }
  if (session.refresh_token === undefined) {
    if (!expired) return session;
    throw sessionExpired(server);
  }
  try {
    const tokens = await requestToken(
      session.token_endpoint,
      {
        grant_type: "refresh_token",
        refresh_token: session.refresh_token,
        client_id: session.client_id,
      },
      deps.http,
      "Refreshing the session",
    );
    return {
      ...session,
      access_token: tokens.accessToken,
      refresh_token: tokens.refreshToken ?? session.refresh_token,
      expires_at: now + (tokens.expiresIn ?? 300),
    };
  } catch (err) {
    if (err instanceof OAuthError && err.error === "invalid_grant") throw sessionExpired(server);
    // The IdP is unreachable: a token that still works is used as it is.
    if (!expired) return session;
    throw err;
  }
}

function sessionExpired(server: string): PactError {
  return new PactError(
    "TOKEN_EXPIRED",
    `Session expired for ${server}: run \`pact login\` (if the IdP is down, use the BMC console)`,
  );
}

/** The cache without `server`; a default naming it is cleared (the next login sets one). */
export function withoutServer(cache: TokenCacheFile, server: string): TokenCacheFile {
  const servers = { ...cache.servers };
  delete servers[server];
  return {
    version: 1,
    default_server: cache.default_server === server ? undefined : cache.default_server,
    servers,
  };
}
