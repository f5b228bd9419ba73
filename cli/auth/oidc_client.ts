/**
 * The OAuth 2.0 / OpenID Connect calls of `pact login`: journal and IdP
 * discovery, the token endpoint (code, device code, client credentials,
 * refresh), device authorization and revocation. Secrets travel only in
 * request bodies and headers, never in messages.
 */
import { PactError } from "../../shared/errors/mod.ts";

/** What the journal's `GET /auth/discovery` tells the CLI. */
export interface JournalDiscovery {
  readonly idpUrl: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  readonly issuer: string | undefined;
  readonly audience: string | undefined;
}

/** The IdP endpoints pact uses, from `/.well-known/openid-configuration`. */
export interface IdpMetadata {
  readonly issuer: string;
  readonly tokenEndpoint: string;
  readonly authorizationEndpoint: string | undefined;
  readonly deviceAuthorizationEndpoint: string | undefined;
  readonly revocationEndpoint: string | undefined;
  readonly codeChallengeMethods: readonly string[];
  readonly grantTypes: readonly string[] | undefined;
  readonly scopesSupported: readonly string[];
}

/** A successful token response. */
export interface TokenResponse {
  readonly accessToken: string;
  readonly refreshToken: string | undefined;
  /** Seconds the access token lives; undefined when the IdP does not say. */
  readonly expiresIn: number | undefined;
  readonly scope: string | undefined;
}

/** An OAuth error answer (`error`, `error_description`) from the token endpoint. */
export class OAuthError extends PactError {
  readonly error: string;

  constructor(error: string, description: string | undefined, during: string) {
    super(
      "UNAUTHENTICATED",
      `${during} failed: the IdP answered ${error}${description ? ` (${description})` : ""}`,
    );
    this.error = error;
  }
}

export const DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";
const REQUEST_TIMEOUT_MS = 15_000;
const RESPONSE_BYTES_MAX = 1024 * 1024;

/** Fetch, injectable for tests; the real one in production. */
export type Fetch = typeof fetch;

/** `GET <url>` of the journal's discovery document. */
export async function fetchJournalDiscovery(url: string, http: Fetch): Promise<JournalDiscovery> {
  const body = await getJson(url, http, "Cannot discover the IdP from the journal");
  const text = (key: string) => typeof body[key] === "string" ? body[key] as string : undefined;
  const idpUrl = text("idp_url") || text("issuer");
  if (!idpUrl) {
    throw new PactError(
      "UNAUTHENTICATED",
      `Cannot discover the IdP from the journal: ${url} names no idp_url (set PACT_IDP_URL on the journal, or pass --idp)`,
    );
  }
  const scopes = Array.isArray(body["scopes"])
    ? (body["scopes"] as unknown[]).filter((s): s is string => typeof s === "string")
    : ["openid", "profile"];
  return {
    idpUrl,
    clientId: text("client_id") || "pact-cli",
    scopes,
    issuer: text("issuer"),
    audience: text("audience"),
  };
}

/** `GET <idp>/.well-known/openid-configuration`, checked. */
export async function fetchIdpMetadata(idpUrl: string, http: Fetch): Promise<IdpMetadata> {
  const url = `${idpUrl.replace(/\/+$/, "")}/.well-known/openid-configuration`;
  const body = await getJson(url, http, "Cannot read the IdP's OpenID configuration");
  const text = (key: string) => typeof body[key] === "string" ? body[key] as string : undefined;
  const list = (key: string) =>
    Array.isArray(body[key])
      ? (body[key] as unknown[]).filter((s): s is string => typeof s === "string")
      : undefined;
  const issuer = text("issuer");
  const tokenEndpoint = text("token_endpoint");
  if (!issuer || !tokenEndpoint) {
    throw new PactError(
      "UNAUTHENTICATED",
      `Cannot read the IdP's OpenID configuration: ${url} has no issuer or token_endpoint`,
    );
  }
  return {
    issuer,
    tokenEndpoint,
    authorizationEndpoint: text("authorization_endpoint"),
    deviceAuthorizationEndpoint: text("device_authorization_endpoint"),
    revocationEndpoint: text("revocation_endpoint"),
    codeChallengeMethods: list("code_challenge_methods_supported") ?? [],
    grantTypes: list("grant_types_supported"),
    scopesSupported: list("scopes_supported") ?? [],
  };
}

/** POSTs a grant to the token endpoint; `basicAuth` for confidential clients. */
export async function requestToken(
  tokenEndpoint: string,
  params: Record<string, string>,
  http: Fetch,
  during: string,
  basicAuth?: { clientId: string; clientSecret: string },
): Promise<TokenResponse> {
  const body = await postForm(tokenEndpoint, params, http, during, basicAuth);
  const accessToken = body["access_token"];
  if (typeof accessToken !== "string" || accessToken === "") {
    throw new PactError("UNAUTHENTICATED", `${during} failed: the IdP returned no access_token`);
  }
  const refreshToken = body["refresh_token"];
  const expiresIn = Number(body["expires_in"]);
  return {
    accessToken,
    refreshToken: typeof refreshToken === "string" && refreshToken !== ""
      ? refreshToken
      : undefined,
    expiresIn: Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : undefined,
    scope: typeof body["scope"] === "string" ? body["scope"] : undefined,
  };
}

/**
 * Revokes a token (RFC 7009): any 2xx is success, whatever the body; an
 * error answer becomes OAuthError.
 */
export async function revokeToken(
  revocationEndpoint: string,
  params: Record<string, string>,
  http: Fetch,
): Promise<void> {
  const during = "Revoking the refresh token";
  const response = await send(revocationEndpoint, http, during, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
    body: new URLSearchParams(params).toString(),
  });
  if (response.ok) {
    await response.body?.cancel();
    return;
  }
  const body = await readJson(response, revocationEndpoint, during).catch(() => ({}));
  const error = (body as Record<string, unknown>)["error"];
  throw new OAuthError(
    typeof error === "string" ? error : `HTTP ${response.status}`,
    undefined,
    during,
  );
}

/** POSTs a form and returns the JSON answer; OAuth errors become OAuthError. */
export async function postForm(
  url: string,
  params: Record<string, string>,
  http: Fetch,
  during: string,
  basicAuth?: { clientId: string; clientSecret: string },
): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = {
    "content-type": "application/x-www-form-urlencoded",
    accept: "application/json",
  };
  if (basicAuth) {
    const encode = (v: string) => encodeURIComponent(v);
    headers.authorization = `Basic ${
      btoa(`${encode(basicAuth.clientId)}:${encode(basicAuth.clientSecret)}`)
    }`;
  }
  const response = await send(url, http, during, {
    method: "POST",
    headers,
    body: new URLSearchParams(params).toString(),
  });
  const body = await readJson(response, url, during);
  if (!response.ok || typeof body["error"] === "string") {
    const error = typeof body["error"] === "string" ? body["error"] : `HTTP ${response.status}`;
    const description = typeof body["error_description"] === "string"
      ? body["error_description"].slice(0, 200)
      : undefined;
    throw new OAuthError(error, description, during);
  }
  return body;
}

async function getJson(url: string, http: Fetch, during: string) {
  const response = await send(url, http, during, {
    method: "GET",
    headers: { accept: "application/json" },
  });
  if (!response.ok) {
    await response.body?.cancel();
    throw new PactError(
      "UNAUTHENTICATED",
      `${during}: GET ${url} answered HTTP ${response.status}`,
    );
  }
  return await readJson(response, url, during);
}

async function send(url: string, http: Fetch, during: string, init: RequestInit) {
  try {
    return await http(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (err) {
    const reason = (err as Error).name === "TimeoutError"
      ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`
      : (err as Error).message.split("\n")[0]!.replace(
        /^error sending request for url \([^)]*\): /,
        "",
      );
    throw new PactError(
      "UNAUTHENTICATED",
      `${during}: ${url} is unreachable (${reason}); if the IdP is down and your session has expired, use the BMC console`,
    );
  }
}

async function readJson(
  response: Response,
  url: string,
  during: string,
): Promise<Record<string, unknown>> {
  const text = await response.text();
  if (text.length > RESPONSE_BYTES_MAX) {
    throw new PactError("UNAUTHENTICATED", `${during}: ${url} answered more than 1 MiB`);
  }
  try {
    const value = JSON.parse(text);
    if (value !== null && typeof value === "object" && !Array.isArray(value)) return value;
  } catch {
    // Reported below.
  }
  throw new PactError(
    "UNAUTHENTICATED",
    `${during}: ${url} answered HTTP ${response.status} without a JSON object`,
  );
}
