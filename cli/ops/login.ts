/**
 * `pact login` and `pact logout` as operations: discover the IdP (from the
 * journal's `/auth/discovery`, or a configured IdP), pick and run a flow,
 * and keep the tokens in the per-server cache. Tokens and secrets are never
 * returned, printed or logged: the results carry only who logged in where.
 */
import { PactError } from "../../shared/errors/mod.ts";
import { deviceCodeFlow, type DevicePrompt } from "../auth/device_flow.ts";
import {
  type Fetch,
  fetchIdpMetadata,
  fetchJournalDiscovery,
  type IdpMetadata,
  requestToken,
  revokeToken,
  type TokenResponse,
} from "../auth/oidc_client.ts";
import { authorizationCodeFlow } from "../auth/pkce_flow.ts";
import { withoutServer } from "../auth/session.ts";
import {
  type CachedSession,
  type LoginFlow,
  serverKey,
  type TokenCache,
} from "../auth/token_cache.ts";

/** The telemetry port that serves `/auth/discovery` beside the journal's gRPC port. */
export const DISCOVERY_PORT = 9091;

/** How to log in. */
export interface LoginRequest {
  /** The journal endpoint the session is for. */
  readonly server: string;
  /** The IdP to use instead of asking the journal (`--idp`, PACT_IDP_URL). */
  readonly idpUrl: string | undefined;
  /** Where the journal's discovery document is (`--discovery-url`); default port 9091 of the server. */
  readonly discoveryUrl: string | undefined;
  /** The public client id (PACT_CLIENT_ID); default: the journal's, else `pact-cli`. */
  readonly clientId: string | undefined;
  /** PACT_CLIENT_SECRET: with it, a service account logs in with client credentials. */
  readonly clientSecret: string | undefined;
  /** `--device-code`, `--no-browser` (auth-code without opening a browser), `--service-account`. */
  readonly forced: "device-code" | "no-browser" | "service-account" | undefined;
  /** A browser can be opened here (a display and a terminal). */
  readonly canOpenBrowser: boolean;
  readonly callbackPort: number;
  readonly timeoutMs: number;
}

/** What login reports (no tokens). */
export interface LoginResult {
  readonly server: string;
  readonly principal: string | undefined;
  readonly roles: readonly string[];
  readonly flow: LoginFlow;
  readonly issuer: string;
  readonly expires_at: string;
  readonly refreshable: boolean;
  readonly default_server: boolean;
  /** A problem the user should know about (e.g. an audience mismatch). */
  readonly warnings: readonly string[];
}

/** What login needs from the outside world. */
export interface LoginDeps {
  readonly cache: TokenCache;
  readonly http: Fetch;
  readonly nowSeconds: () => number;
  /** Shows the authorization URL; opens a browser when `open` is true. */
  readonly presentUrl: (url: string, open: boolean) => Promise<void>;
  readonly presentDevice: (prompt: DevicePrompt) => void;
}

/** Logs in and stores the session for `request.server`. */
export async function login(request: LoginRequest, deps: LoginDeps): Promise<LoginResult> {
  const server = serverKey(request.server);
  const discovered = request.idpUrl === undefined
    ? await fetchJournalDiscovery(request.discoveryUrl ?? discoveryUrlOf(server), deps.http)
    : undefined;
  const idp = await fetchIdpMetadata(request.idpUrl ?? discovered!.idpUrl, deps.http);
  const clientId = request.clientId ?? discovered?.clientId ?? "pact-cli";
  const scopes = [
    ...new Set([
      ...(discovered?.scopes ?? ["openid", "profile"]),
      ...(idp.scopesSupported.includes("offline_access") ? ["offline_access"] : []),
    ]),
  ];
  const flow = chooseFlow(request, idp);
  const tokens = await runFlow(flow, request, idp, clientId, scopes, deps);
  const now = deps.nowSeconds();
  const session: CachedSession = {
    access_token: tokens.accessToken,
    ...(tokens.refreshToken === undefined ? {} : { refresh_token: tokens.refreshToken }),
    expires_at: now + (tokens.expiresIn ?? 300),
    scopes: tokens.scope?.split(" ") ?? scopes,
    idp_issuer: idp.issuer,
    client_id: flow === "client-credentials" ? request.clientId! : clientId,
    token_endpoint: idp.tokenEndpoint,
    ...(idp.revocationEndpoint === undefined
      ? {}
      : { revocation_endpoint: idp.revocationEndpoint }),
    flow,
  };
  const isDefault = await deps.cache.withLock(async () => {
    const cache = await deps.cache.readForRewrite();
    const defaultServer = cache.default_server ?? server;
    await deps.cache.write({
      version: 1,
      default_server: defaultServer,
      servers: { ...cache.servers, [server]: session },
    });
    return defaultServer === server;
  });
  const claims = unverifiedClaims(tokens.accessToken);
  return {
    server,
    principal: typeof claims["sub"] === "string" ? claims["sub"] : undefined,
    roles: rolesOf(claims),
    flow,
    issuer: idp.issuer,
    expires_at: new Date(session.expires_at * 1000).toISOString(),
    refreshable: tokens.refreshToken !== undefined || flow === "client-credentials",
    default_server: isDefault,
    warnings: audienceWarnings(claims, discovered?.audience, discovered?.issuer, idp.issuer),
  };
}

/**
 * The flow for a request: a forced one, client credentials with a
 * secret, else Authorization Code + PKCE where a browser can open, else
 * Device Code; falling back to whichever the IdP offers.
 */
export function chooseFlow(request: LoginRequest, idp: IdpMetadata): LoginFlow {
  if (request.forced === "service-account" || (!request.forced && request.clientSecret)) {
    if (!request.clientId || !request.clientSecret) {
      throw new PactError(
        "UNAUTHENTICATED",
        "Service-account login needs PACT_CLIENT_ID and PACT_CLIENT_SECRET",
      );
    }
    return "client-credentials";
  }
  if (request.forced === "device-code") return "device-code";
  if (request.forced === "no-browser") return "auth-code";
  const pkce = idp.authorizationEndpoint !== undefined && idp.codeChallengeMethods.includes("S256");
  const device = idp.deviceAuthorizationEndpoint !== undefined;
  if (request.canOpenBrowser && pkce) return "auth-code";
  if (device) return "device-code";
  if (pkce) return "auth-code";
  throw new PactError(
    "UNAUTHENTICATED",
    `The IdP ${idp.issuer} offers no flow pact supports (Authorization Code with PKCE S256, or Device Code)`,
  );
}

function runFlow(
  flow: LoginFlow,
  request: LoginRequest,
  idp: IdpMetadata,
  clientId: string,
  scopes: readonly string[],
  deps: LoginDeps,
): Promise<TokenResponse> {
  switch (flow) {
    case "client-credentials":
      return requestToken(
        idp.tokenEndpoint,
        { grant_type: "client_credentials" },
        deps.http,
        "Service-account login",
        { clientId: request.clientId!, clientSecret: request.clientSecret! },
      );
    case "device-code":
      return deviceCodeFlow({
        idp,
        clientId,
        scopes,
        http: deps.http,
        present: deps.presentDevice,
      });
    case "auth-code":
      return authorizationCodeFlow({
        idp,
        clientId,
        scopes,
        callbackPort: request.callbackPort,
        timeoutMs: request.timeoutMs,
        http: deps.http,
        present: (url) => deps.presentUrl(url, request.forced !== "no-browser"),
      });
  }
}

/** What logout did. */
export interface LogoutResult {
  readonly server: string;
  readonly logged_out: boolean;
  /** `revoked`, `not-supported` (no endpoint or no refresh token), or `failed: <reason>`. */
  readonly revocation: string;
}

/**
 * Deletes the server's tokens first, then revokes the refresh token at
 * the IdP on a best-effort basis (an unreachable IdP does not keep anyone
 * logged in).
 */
export async function logout(
  server: string,
  deps: Pick<LoginDeps, "cache" | "http">,
): Promise<LogoutResult> {
  const key = serverKey(server);
  const session = await deps.cache.withLock(async () => {
    const cache = await deps.cache.readForRewrite();
    const found = cache.servers[key];
    if (found !== undefined) await deps.cache.write(withoutServer(cache, key));
    return found;
  });
  if (session === undefined) return { server: key, logged_out: false, revocation: "not-supported" };
  if (!session.revocation_endpoint || !session.refresh_token) {
    return { server: key, logged_out: true, revocation: "not-supported" };
  }
  try {
    await revokeToken(
      session.revocation_endpoint,
      {
        token: session.refresh_token,
        token_type_hint: "refresh_token",
        client_id: session.client_id,
      },
      deps.http,
    );
    return { server: key, logged_out: true, revocation: "revoked" };
  } catch (err) {
    return { server: key, logged_out: true, revocation: `failed: ${(err as Error).message}` };
  }
}

/** `http(s)://<host>:9091/auth/discovery` for a journal endpoint. */
export function discoveryUrlOf(server: string): string {
  const url = new URL(server);
  url.port = String(DISCOVERY_PORT);
  url.pathname = "/auth/discovery";
  return url.href;
}

/** The access token's claims, undecoded signature: for display and warnings only. */
function unverifiedClaims(token: string): Record<string, unknown> {
  const part = token.split(".")[1];
  if (part === undefined) return {};
  try {
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const value = JSON.parse(
      new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))),
    );
    return value !== null && typeof value === "object" ? value : {};
  } catch {
    return {};
  }
}

function rolesOf(claims: Record<string, unknown>): string[] {
  const list = (v: unknown) =>
    (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === "string");
  return [
    ...new Set([
      ...list(claims["pact_role"]),
      ...list(claims["groups"]).filter((g) => g.startsWith("pact-")),
    ]),
  ];
}

function audienceWarnings(
  claims: Record<string, unknown>,
  audience: string | undefined,
  expectedIssuer: string | undefined,
  issuer: string,
): string[] {
  const warnings: string[] = [];
  if (Object.keys(claims).length === 0) return warnings;
  const aud = claims["aud"];
  const auds = Array.isArray(aud) ? aud : [aud];
  if (audience !== undefined && !auds.includes(audience)) {
    warnings.push(
      `the IdP issued a token for audience ${JSON.stringify(aud)}, but the journal accepts ${
        JSON.stringify(audience)
      }`,
    );
  }
  if (expectedIssuer !== undefined && expectedIssuer !== issuer) {
    warnings.push(`the journal accepts issuer ${expectedIssuer}, but the IdP is ${issuer}`);
  }
  return warnings;
}
