import { Command, InvalidArgumentError } from "@commander-js/extra-typings";
import type { DevicePrompt } from "../auth/device_flow.ts";
import type { CliContext } from "../context.ts";
import type { LoginResult, LogoutResult } from "../ops/login.ts";

const LOGIN_HELP = `
How pact chooses the login flow:
  PACT_CLIENT_ID + PACT_CLIENT_SECRET set, or --service-account
                   client credentials (service accounts, CI); no browser, no refresh token
  --device-code    device code: open the printed URL on any device and enter the code
  --no-browser     authorization code + PKCE, printing the URL instead of opening a browser;
                   the browser must reach http://localhost:<callback-port>/callback here
  otherwise        authorization code + PKCE in a browser when this host has a display and
                   a terminal, else device code (e.g. over SSH or in a container)

Where the IdP comes from:
  --idp URL or PACT_IDP_URL, else the journal's GET /auth/discovery (port 9091 of the
  server, or --discovery-url / PACT_DISCOVERY_URL), then <IdP>/.well-known/openid-configuration.

Token cache:
  ~/.config/pact/tokens.json (or $XDG_CONFIG_HOME/pact), one entry per server, mode 0600.
  The first server you log in to becomes the default for commands without --endpoint.
  Commands refresh the access token silently with the refresh token before it expires;
  concurrent pact processes refresh once (a lock file serializes them).
  A cache readable by others is refused (strict mode, the default); with
  PACT_TOKEN_CACHE_PERMISSIONS=lenient pact warns, sets mode 0600 and goes on.
  Tokens and client secrets are never printed or logged.

Examples:
  pact login                                     # the journal of PACT_ENDPOINT
  pact login --server https://journal-1:9443 --device-code
  PACT_CLIENT_ID=ci-bot PACT_CLIENT_SECRET=... pact login --service-account
`;

/** `pact login`. */
export function loginCommand(ctx: CliContext) {
  return new Command("login")
    .description("Log in to a journal through its OIDC identity provider and cache the tokens")
    .option("--server <url>", "journal to log in to (default: --endpoint, PACT_ENDPOINT)")
    .option("--idp <url>", "OIDC issuer to use instead of asking the journal (env PACT_IDP_URL)")
    .option(
      "--discovery-url <url>",
      "the journal's discovery document (default: http://<server>:9091/auth/discovery)",
    )
    .option("--device-code", "use the device code flow (headless hosts)")
    .option("--no-browser", "print the login URL instead of opening a browser")
    .option("--service-account", "client credentials with PACT_CLIENT_ID and PACT_CLIENT_SECRET")
    .option("--callback-port <port>", "loopback port of the redirect URI", port, 8400)
    .addHelpText("after", LOGIN_HELP)
    .action(async (options) => {
      const { login } = await import("../ops/login.ts");
      const settings = await ctx.settings();
      const env = (name: string) => safeEnv(ctx, name);
      const forced = options.serviceAccount
        ? "service-account"
        : options.deviceCode
        ? "device-code"
        : options.browser === false
        ? "no-browser"
        : undefined;
      const result = await login(
        {
          server: options.server ?? settings.endpoint,
          idpUrl: options.idp ?? env("PACT_IDP_URL"),
          discoveryUrl: options.discoveryUrl ?? env("PACT_DISCOVERY_URL"),
          clientId: env("PACT_CLIENT_ID"),
          clientSecret: env("PACT_CLIENT_SECRET"),
          forced,
          canOpenBrowser: hasDisplay(env) && Deno.stdin.isTerminal(),
          callbackPort: options.callbackPort,
          timeoutMs: 300_000,
        },
        {
          cache: await ctx.tokenCache(),
          http: fetch,
          nowSeconds: () => Math.floor(Date.now() / 1000),
          presentUrl: async (url, open) => {
            ctx.io.err(
              `Open this URL in a browser to sign in:\n\n  ${url}\n\n` +
                `Waiting for the browser to return to http://localhost:${options.callbackPort}/callback ...\n`,
            );
            if (open) await openBrowser(url);
          },
          presentDevice: (prompt) => ctx.io.err(devicePrompt(prompt)),
        },
      );
      for (const warning of result.warnings) ctx.io.err(`Warning: ${warning}\n`);
      await ctx.print(result, renderLogin);
    });
}

/** `pact logout`. */
export function logoutCommand(ctx: CliContext) {
  return new Command("logout")
    .description("Delete the cached tokens of a journal and revoke its refresh token at the IdP")
    .option("--server <url>", "journal to log out of (default: --endpoint, PACT_ENDPOINT)")
    .addHelpText(
      "after",
      "\nThe local tokens are deleted first, so logging out works while the IdP is down;\n" +
        "revoking the refresh token is then tried once (best effort).\n",
    )
    .action(async (options) => {
      const { logout } = await import("../ops/login.ts");
      const settings = await ctx.settings();
      const cache = await ctx.tokenCache();
      const server = options.server ??
        (settings.endpointExplicit
          ? settings.endpoint
          : (await cache.readForRewrite()).default_server ?? settings.endpoint);
      await ctx.print(await logout(server, { cache, http: fetch }), renderLogout);
    });
}

function renderLogin(result: LoginResult): string {
  const who = result.principal ?? "an unnamed principal";
  const roles = result.roles.length > 0 ? ` (${result.roles.join(", ")})` : "";
  return `Logged in to ${result.server} as ${who}${roles} with ${result.flow}.\n` +
    `Access token valid until ${result.expires_at}${
      result.refreshable ? "; pact renews it silently" : "; run pact login again then"
    }.\n` +
    (result.default_server ? "This is your default server.\n" : "");
}

function renderLogout(result: LogoutResult): string {
  if (!result.logged_out) return `Not logged in to ${result.server}: nothing to do.\n`;
  const revocation = result.revocation === "revoked"
    ? "the refresh token was revoked at the IdP"
    : result.revocation === "not-supported"
    ? "there was no refresh token to revoke at the IdP"
    : `the IdP did not revoke the refresh token (${
      result.revocation.replace(/^failed: /, "")
    }); it expires on its own`;
  return `Logged out of ${result.server}: local tokens deleted; ${revocation}.\n`;
}

function devicePrompt(prompt: DevicePrompt): string {
  return `To sign in, open ${prompt.verificationUri} and enter the code ${prompt.userCode}\n` +
    (prompt.verificationUriComplete ? `  (or open ${prompt.verificationUriComplete})\n` : "") +
    `Waiting for you to sign in (the code expires in ${
      Math.round(prompt.expiresInSeconds / 60)
    } min) ...\n`;
}

function port(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new InvalidArgumentError(`expected a port 1-65535, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** An environment variable, or undefined where pact may not read it. */
function safeEnv(ctx: CliContext, name: string): string | undefined {
  try {
    return ctx.env(name) || undefined;
  } catch {
    return undefined;
  }
}

function hasDisplay(env: (name: string) => string | undefined): boolean {
  return Deno.build.os === "darwin" || Deno.build.os === "windows" ||
    env("DISPLAY") !== undefined || env("WAYLAND_DISPLAY") !== undefined;
}

/** Tries xdg-open/open without waiting for it; the URL is printed anyway. */
function openBrowser(url: string): Promise<void> {
  const opener = Deno.build.os === "darwin" ? "open" : "xdg-open";
  try {
    new Deno.Command(opener, { args: [url], stdin: "null", stdout: "null", stderr: "null" })
      .spawn()
      .unref();
  } catch {
    // No opener, or no permission to run it: the printed URL is enough.
  }
  return Promise.resolve();
}
