/**
 * Authorization Code + PKCE (RFC 7636, RFC 8252): a loopback listener on
 * `http://localhost:<port>/callback` receives the code, which is exchanged
 * with the verifier that never left this process.
 */
import { PactError } from "../../shared/errors/mod.ts";
import { type Fetch, type IdpMetadata, requestToken, type TokenResponse } from "./oidc_client.ts";

/** What the flow needs. */
export interface PkceFlowOptions {
  readonly idp: IdpMetadata;
  readonly clientId: string;
  readonly scopes: readonly string[];
  /** Loopback port of the redirect URI. Default 8400. */
  readonly callbackPort: number;
  /** How long to wait for the browser. */
  readonly timeoutMs: number;
  readonly http: Fetch;
  /** Shows the URL to the user (and opens a browser where it can). */
  readonly present: (url: string) => Promise<void>;
}

const base64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");

/** A random verifier (43 chars) and its S256 challenge. */
export async function pkcePair(): Promise<{ verifier: string; challenge: string }> {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return { verifier, challenge: base64url(new Uint8Array(digest)) };
}

/** Runs the flow and returns the tokens. */
export async function authorizationCodeFlow(options: PkceFlowOptions): Promise<TokenResponse> {
  const { idp } = options;
  if (!idp.authorizationEndpoint) {
    throw new PactError("UNAUTHENTICATED", `The IdP ${idp.issuer} has no authorization endpoint`);
  }
  if (!idp.codeChallengeMethods.includes("S256")) {
    throw new PactError("UNAUTHENTICATED", `The IdP ${idp.issuer} does not support PKCE (S256)`);
  }
  const { verifier, challenge } = await pkcePair();
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const redirectUri = `http://localhost:${options.callbackPort}/callback`;
  const code = Promise.withResolvers<string>();
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve(
      { hostname: "127.0.0.1", port: options.callbackPort, onListen: () => {} },
      (request) => handleCallback(request, state, idp.issuer, code),
    );
  } catch (err) {
    throw new PactError(
      "UNAUTHENTICATED",
      `Cannot listen on localhost:${options.callbackPort} for the login callback: ${
        (err as Error).message.split("\n")[0]
      } (use --device-code, or free the port)`,
    );
  }
  const url = new URL(idp.authorizationEndpoint);
  for (
    const [key, value] of Object.entries({
      response_type: "code",
      client_id: options.clientId,
      redirect_uri: redirectUri,
      scope: options.scopes.join(" "),
      state,
      code_challenge: challenge,
      code_challenge_method: "S256",
    })
  ) url.searchParams.set(key, value);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await options.present(url.href);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new PactError(
              "UNAUTHENTICATED",
              `Login timed out: no browser came back to ${redirectUri} within ${
                Math.round(options.timeoutMs / 1000)
              } s`,
            ),
          ),
        options.timeoutMs,
      );
    });
    const authorizationCode = await Promise.race([code.promise, timeout]);
    return await requestToken(
      idp.tokenEndpoint,
      {
        grant_type: "authorization_code",
        code: authorizationCode,
        redirect_uri: redirectUri,
        client_id: options.clientId,
        code_verifier: verifier,
      },
      options.http,
      "Exchanging the authorization code",
    );
  } finally {
    clearTimeout(timer);
    await server.shutdown();
  }
}

/** Answers the browser and settles `code` with the code or a refusal. */
function handleCallback(
  request: Request,
  state: string,
  issuer: string,
  code: PromiseWithResolvers<string>,
): Response {
  const url = new URL(request.url);
  if (url.pathname !== "/callback") return new Response("Not found\n", { status: 404 });
  const params = url.searchParams;
  const page = (status: number, text: string) =>
    new Response(`<!doctype html><title>pact login</title><p>${text}</p>\n`, {
      status,
      headers: { "content-type": "text/html; charset=utf-8" },
    });
  if (params.get("state") !== state) {
    // Not our request (or a forged one): ignore it and keep waiting.
    return page(400, "This login request is not the one pact is waiting for.");
  }
  const returnedIssuer = params.get("iss");
  if (returnedIssuer !== null && returnedIssuer !== issuer) {
    code.reject(
      new PactError(
        "UNAUTHENTICATED",
        `Login refused: the callback came from issuer ${returnedIssuer}`,
      ),
    );
    return page(400, "Login refused: unexpected issuer.");
  }
  const error = params.get("error");
  if (error !== null) {
    const description = params.get("error_description");
    code.reject(
      new PactError(
        "UNAUTHENTICATED",
        `Login refused by the IdP: ${error}${description ? ` (${description.slice(0, 200)})` : ""}`,
      ),
    );
    return page(400, "Login refused. You can close this window.");
  }
  const value = params.get("code");
  if (!value) {
    code.reject(new PactError("UNAUTHENTICATED", "Login failed: the callback carried no code"));
    return page(400, "Login failed: no code.");
  }
  code.resolve(value);
  return page(200, "Signed in to pact. You can close this window and return to your terminal.");
}
