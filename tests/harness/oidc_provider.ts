/**
 * A real, OpenID-certified identity provider (`oidc-provider`) on loopback
 * for tests: a public CLI client (Authorization Code + PKCE, Device Code,
 * refresh tokens), confidential service-account clients (client
 * credentials), RS256/ES256 JWT access tokens for the journal's audience
 * carrying `pact_role`, `groups` and `pact_principal_type`, and a scripted
 * browser that logs a user in through the real interaction endpoints.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import * as jose from "jose";
import ProviderModule from "oidc-provider";
import type {
  OidcClient,
  OidcContext,
  OidcProvider,
  OidcToken,
  ProviderClass,
} from "./_oidc_types.ts";

// @types/oidc-provider drags @types/node into the whole type check, which
// breaks Deno's own Node typings elsewhere: the few members used here are
// typed by hand instead.
const Provider = ProviderModule as unknown as ProviderClass;

/** A user who can log in through the scripted browser. */
export interface OidcUser {
  /** Value of `pact_role`; omitted: no such claim. */
  readonly pactRole?: string;
  /** Value of `groups`; omitted: no such claim. */
  readonly groups?: readonly string[];
  /** Value of `pact_principal_type`; omitted: no such claim. */
  readonly principalType?: string;
}

/** A service account (confidential client using client credentials). */
export interface OidcServiceAccount extends OidcUser {
  readonly secret: string;
}

/** How the test IdP is set up. */
export interface OidcProviderOptions {
  /** `aud` of access tokens: the journal's audience. Default `pact-cli`. */
  readonly audience?: string;
  /** Client id of the CLI's public client. Default `pact-cli`. */
  readonly cliClientId?: string;
  /** Users by login name (the token's `sub`). */
  readonly users?: Record<string, OidcUser>;
  /** Service accounts by client id. */
  readonly serviceAccounts?: Record<string, OidcServiceAccount>;
  /** Lifetime of access tokens in seconds. Default 300. */
  readonly accessTokenTtlSeconds?: number;
  /** Signing algorithm of access tokens. Default RS256. */
  readonly signingAlg?: "RS256" | "ES256";
}

/** What the provider has done, for assertions. */
export interface OidcProviderCounts {
  /** Successful token grants by grant type. */
  readonly grants: Record<string, number>;
  /** Refused token requests by OAuth error code. */
  readonly grantErrors: Record<string, number>;
  /** Grants revoked at the revocation endpoint. */
  revocations: number;
  /** Grants revoked because a rotated refresh token was used twice. */
  reusedRefreshTokens: number;
}

type SigningKey = {
  kid: string;
  key: Awaited<ReturnType<typeof jose.generateKeyPair>>["privateKey"];
};

const RESOURCE = "urn:pact:journal";
const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";
const HOPS_MAX = 25;

/** The running provider. */
export class OidcTestProvider {
  /** `http://127.0.0.1:<port>`: issuer and discovery base. */
  readonly issuer: string;
  readonly audience: string;
  readonly cliClientId: string;
  readonly counts: OidcProviderCounts = {
    grants: {},
    grantErrors: {},
    revocations: 0,
    reusedRefreshTokens: 0,
  };
  readonly #server: Server;
  readonly #provider: OidcProvider;
  readonly #signingKeys: Record<"RS256" | "ES256", SigningKey>;

  private constructor(
    server: Server,
    provider: OidcProvider,
    issuer: string,
    options: Required<Pick<OidcProviderOptions, "audience" | "cliClientId">>,
    signingKeys: Record<"RS256" | "ES256", SigningKey>,
  ) {
    this.#server = server;
    this.#provider = provider;
    this.issuer = issuer;
    this.audience = options.audience;
    this.cliClientId = options.cliClientId;
    this.#signingKeys = signingKeys;
  }

  /** Starts a provider on 127.0.0.1 with a port chosen by the OS. */
  static async start(options: OidcProviderOptions = {}): Promise<OidcTestProvider> {
    const audience = options.audience ?? "pact-cli";
    const cliClientId = options.cliClientId ?? "pact-cli";
    const users = options.users ?? {};
    const services = options.serviceAccounts ?? {};
    const ttl = options.accessTokenTtlSeconds ?? 300;
    const alg = options.signingAlg ?? "RS256";
    const rsa = await privateJwk("RS256", "test-rsa-1");
    const ec = await privateJwk("ES256", "test-ec-1");

    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    const issuer = `http://127.0.0.1:${port}`;

    const claimsOf = (subject: OidcUser | undefined) =>
      subject === undefined ? undefined : {
        ...(subject.pactRole === undefined ? {} : { pact_role: subject.pactRole }),
        ...(subject.groups === undefined ? {} : { groups: [...subject.groups] }),
        ...(subject.principalType === undefined
          ? {}
          : { pact_principal_type: subject.principalType }),
      };

    const configuration = {
      clients: [
        {
          client_id: cliClientId,
          application_type: "native",
          token_endpoint_auth_method: "none",
          grant_types: ["authorization_code", "refresh_token", DEVICE_GRANT],
          response_types: ["code"],
          // Native loopback redirects match on any port (RFC 8252 7.3).
          redirect_uris: ["http://localhost:8400/callback"],
        },
        ...Object.entries(services).map(([clientId, account]) => ({
          client_id: clientId,
          client_secret: account.secret,
          grant_types: ["client_credentials"],
          response_types: [],
          redirect_uris: [],
          token_endpoint_auth_method: "client_secret_basic" as const,
        })),
      ],
      jwks: { keys: [rsa.jwk, ec.jwk] },
      cookies: { keys: ["pact-test-cookie-key"] },
      findAccount: (_ctx: OidcContext, id: string) =>
        users[id] === undefined ? undefined : {
          accountId: id,
          claims: () => ({ sub: id, name: id }),
        },
      claims: { openid: ["sub"], profile: ["name"] },
      interactions: {
        url: (_ctx: OidcContext, interaction: { uid: string }) => `/interaction/${interaction.uid}`,
      },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        revocation: { enabled: true },
        deviceFlow: {
          enabled: true,
          successSource: deviceSuccessPage,
          // After a refusal the page shows the error instead of the form, so
          // the scripted browser stops there.
          userCodeInputSource: (
            ctx: OidcContext,
            form: string,
            _out: unknown,
            err?: { name?: string; message?: string },
          ) => void (ctx.body = err ? `<p id=device-error>${err.name}: ${err.message}</p>` : form),
          userCodeConfirmSource: (ctx: OidcContext, form: string) => void (ctx.body = form),
        },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => RESOURCE,
          useGrantedResource: () => true,
          getResourceServerInfo: () => ({
            scope: "pact:admin",
            audience,
            accessTokenTTL: ttl,
            accessTokenFormat: "jwt",
            jwt: { sign: { alg } },
          }),
        },
      },
      ttl: {
        AccessToken: ttl,
        ClientCredentials: ttl,
        IdToken: 3600,
        Interaction: 600,
        DeviceCode: 600,
        RefreshToken: 86_400,
        Grant: 86_400,
        Session: 86_400,
      },
      issueRefreshToken: (_ctx: OidcContext, client: OidcClient) =>
        client.grantTypeAllowed("refresh_token"),
      expiresWithSession: () => false,
      extraTokenClaims: (_ctx: OidcContext, token: OidcToken) => {
        const accountId = token.accountId;
        return claimsOf(accountId ? users[accountId] : services[token.clientId ?? ""]);
      },
      pkce: { required: () => true },
    };
    const provider = new Provider(issuer, configuration);
    const counts = (target: Record<string, number>, key: string) =>
      target[key] = (target[key] ?? 0) + 1;
    const harness = new OidcTestProvider(server, provider, issuer, { audience, cliClientId }, {
      RS256: { kid: rsa.jwk.kid, key: rsa.key },
      ES256: { kid: ec.jwk.kid, key: ec.key },
    });
    provider.on("grant.success", (ctx: OidcContext) => {
      counts(harness.counts.grants, String(ctx.oidc.params?.["grant_type"] ?? "unknown"));
    });
    provider.on("grant.error", (_ctx: OidcContext, err: { error?: string }) => {
      counts(harness.counts.grantErrors, err.error ?? "unknown");
    });
    provider.on("grant.revoked", (ctx: OidcContext) => {
      // Revoked at the revocation endpoint, or by the token endpoint when a
      // rotated refresh token was presented twice (reuse detection).
      if (ctx.oidc.route === "revocation") harness.counts.revocations++;
      else harness.counts.reusedRefreshTokens++;
    });
    const callback = provider.callback();
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? "/", issuer);
      if (url.pathname.startsWith("/interaction/")) {
        harness.#interaction(req, res, url, users).catch((err) => {
          res.statusCode = 500;
          res.end(`interaction failed: ${(err as Error).message}`);
        });
        return;
      }
      callback(req, res);
    });
    return harness;
  }

  /** The IdP's JWKS URL, as the journal takes it (PACT_OIDC_JWKS_URL). */
  get jwksUrl(): string {
    return `${this.issuer}/jwks`;
  }

  /**
   * Environment for a `pact-journal` that validates this IdP's tokens (and
   * has no development secret).
   */
  journalEnv(): Record<string, string> {
    return {
      PACT_OIDC_HMAC_SECRET: "",
      PACT_OIDC_ISSUER: this.issuer,
      PACT_OIDC_AUDIENCE: this.audience,
      PACT_OIDC_JWKS_URL: this.jwksUrl,
      PACT_IDP_URL: this.issuer,
      PACT_CLIENT_ID: this.cliClientId,
    };
  }

  /**
   * Signs `claims` with the provider's own signing key (defaults: this
   * issuer and audience, one hour of validity), for hostile-token tests
   * that need a real signature on a bad claim.
   */
  async sign(
    claims: jose.JWTPayload,
    options: { alg?: "RS256" | "ES256"; header?: Partial<jose.JWTHeaderParameters> } = {},
  ): Promise<string> {
    const alg = options.alg ?? "RS256";
    const { kid, key } = this.#signingKeys[alg];
    const now = Math.floor(Date.now() / 1000);
    return await new jose.SignJWT({
      iss: this.issuer,
      aud: this.audience,
      iat: now,
      exp: now + 3600,
      ...claims,
    })
      .setProtectedHeader({ alg, kid, typ: "at+jwt", ...options.header })
      .sign(key);
  }

  /**
   * Plays a browser: opens `url` (an authorization URL or a device
   * verification URL), logs in as `login`, consents, and follows redirects
   * until one leaves the provider (the client's redirect URI, which it then
   * requests) or a page ends the flow. Returns the last response's status,
   * URL and body.
   */
  async browse(url: string, login: string): Promise<{ status: number; url: string; body: string }> {
    const jar = new CookieJar();
    let request: { url: string; init: RequestInit } = { url, init: { method: "GET" } };
    for (let hop = 0; hop < HOPS_MAX; hop++) {
      const target = new URL(request.url);
      const ours = target.origin === this.issuer;
      const response = await fetch(request.url, {
        ...request.init,
        redirect: "manual",
        headers: { ...(ours ? { cookie: jar.header(target) } : {}), ...request.init.headers },
      });
      if (ours) jar.store(target, response.headers.getSetCookie());
      const location = response.headers.get("location");
      if (response.status >= 300 && response.status < 400 && location) {
        await response.body?.cancel();
        request = { url: new URL(location, request.url).href, init: { method: "GET" } };
        continue;
      }
      const body = await response.text();
      if (!ours) return { status: response.status, url: request.url, body };
      const form = nextForm(body, login);
      if (form === undefined) return { status: response.status, url: request.url, body };
      request = {
        url: new URL(form.action, request.url).href,
        init: {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams(form.fields).toString(),
        },
      };
    }
    throw new Error(`Scripted browser gave up after ${HOPS_MAX} hops at ${request.url}`);
  }

  /** Stops the server. */
  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Login form, then automatic consent, for the provider's interaction endpoints. */
  async #interaction(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    users: Record<string, OidcUser>,
  ): Promise<void> {
    const provider = this.#provider;
    const details = await provider.interactionDetails(req, res);
    if (req.method === "POST" && url.pathname.endsWith("/login")) {
      const login = new URLSearchParams(await readBody(req)).get("login") ?? "";
      const result = users[login] === undefined
        ? { error: "access_denied", error_description: `unknown user ${login}` }
        : { login: { accountId: login } };
      await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
      return;
    }
    if (details.prompt.name === "login") {
      res.setHeader("content-type", "text/html");
      res.end(
        `<form id="login" method="post" action="/interaction/${details.uid}/login">` +
          `<input type="text" name="login"/></form>`,
      );
      return;
    }
    const accountId = details.session?.accountId;
    const clientId = String(details.params["client_id"]);
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: accountId!, clientId });
    const missing = details.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    if (missing.missingOIDCScope) grant!.addOIDCScope(missing.missingOIDCScope.join(" "));
    if (missing.missingOIDCClaims) grant!.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant!.addResourceScope(indicator, scopes.join(" "));
    }
    const grantId = await grant!.save();
    await provider.interactionFinished(
      req,
      res,
      { consent: details.grantId ? {} : { grantId } },
      { mergeWithLastSubmission: true },
    );
  }
}

async function privateJwk(alg: "RS256" | "ES256", kid: string) {
  const { privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await jose.exportJWK(privateKey)), kid, alg, use: "sig" } as jose.JWK & {
    kid: string;
  };
  return { jwk, key: privateKey };
}

function deviceSuccessPage(ctx: OidcContext): void {
  ctx.body = "<p id=device-success>Signed in: return to your terminal</p>";
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => text += chunk);
    req.on("end", () => resolve(text));
    req.on("error", reject);
  });
}

/**
 * The form a user would submit next on a provider page: the login form
 * (filled with `login`) or a device confirmation form (hidden inputs).
 */
function nextForm(
  html: string,
  login: string,
): { action: string; fields: Record<string, string> } | undefined {
  const form = /<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/.exec(html);
  if (!form) return undefined;
  const fields: Record<string, string> = {};
  for (const input of form[2]!.matchAll(/<input\b([^>]*)>/g)) {
    const name = /name="([^"]+)"/.exec(input[1]!)?.[1];
    if (name === undefined) continue;
    fields[name] = name === "login" ? login : (/value="([^"]*)"/.exec(input[1]!)?.[1] ?? "");
  }
  return { action: form[1]!.replaceAll("&amp;", "&"), fields };
}

/** Just enough of a browser's cookie store: name, path, expiry. */
class CookieJar {
  readonly #cookies = new Map<string, { name: string; value: string; path: string }>();

  store(url: URL, setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair, ...attributes] = line.split(";").map((part) => part.trim());
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      let path = "/";
      let expired = value === "";
      for (const attribute of attributes) {
        const [key, val = ""] = attribute.split("=");
        const lower = key!.toLowerCase();
        if (lower === "path") path = val;
        if (lower === "max-age" && Number(val) <= 0) expired = true;
        if (lower === "expires" && Date.parse(val) <= Date.now()) expired = true;
      }
      const id = `${name};${path}`;
      if (expired) this.#cookies.delete(id);
      else this.#cookies.set(id, { name, value, path });
      void url;
    }
  }

  header(url: URL): string {
    return [...this.#cookies.values()]
      .filter((c) => url.pathname.startsWith(c.path))
      .map((c) => `${c.name}=${c.value}`)
      .join("; ");
  }
}
