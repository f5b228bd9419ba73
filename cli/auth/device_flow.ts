/**
 * Device Authorization Grant (RFC 8628) for hosts without a browser: the
 * user opens the verification URL elsewhere and enters the code; pact polls
 * the token endpoint at the IdP's interval until the user is done, refuses,
 * or the code expires.
 */
import { PactError } from "../../shared/errors/mod.ts";
import {
  DEVICE_CODE_GRANT,
  type Fetch,
  type IdpMetadata,
  OAuthError,
  postForm,
  requestToken,
  type TokenResponse,
} from "./oidc_client.ts";

/** What the user must do, as the IdP said it. */
export interface DevicePrompt {
  readonly verificationUri: string;
  readonly verificationUriComplete: string | undefined;
  readonly userCode: string;
  readonly expiresInSeconds: number;
}

/** What the flow needs. */
export interface DeviceFlowOptions {
  readonly idp: IdpMetadata;
  readonly clientId: string;
  readonly scopes: readonly string[];
  readonly http: Fetch;
  readonly present: (prompt: DevicePrompt) => void;
  /** Waits between polls; injectable so tests need not sleep. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** At most this many polls, whatever the IdP's expiry says. */
const POLLS_MAX = 1000;

/** Runs the flow and returns the tokens. */
export async function deviceCodeFlow(options: DeviceFlowOptions): Promise<TokenResponse> {
  const { idp } = options;
  if (!idp.deviceAuthorizationEndpoint) {
    throw new PactError(
      "UNAUTHENTICATED",
      `The IdP ${idp.issuer} does not offer the device code flow (no device_authorization_endpoint)`,
    );
  }
  const answer = await postForm(
    idp.deviceAuthorizationEndpoint,
    { client_id: options.clientId, scope: options.scopes.join(" ") },
    options.http,
    "Starting the device code login",
  );
  const deviceCode = answer["device_code"];
  const userCode = answer["user_code"];
  const verificationUri = answer["verification_uri"];
  if (
    typeof deviceCode !== "string" || typeof userCode !== "string" ||
    typeof verificationUri !== "string"
  ) {
    throw new PactError(
      "UNAUTHENTICATED",
      "Starting the device code login failed: the IdP's answer lacks device_code, user_code or verification_uri",
    );
  }
  const expiresIn = positiveOr(answer["expires_in"], 600);
  let intervalMs = positiveOr(answer["interval"], 5) * 1000;
  options.present({
    verificationUri,
    verificationUriComplete: typeof answer["verification_uri_complete"] === "string"
      ? answer["verification_uri_complete"]
      : undefined,
    userCode,
    expiresInSeconds: expiresIn,
  });
  const sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  const deadline = Date.now() + expiresIn * 1000;
  for (let poll = 0; poll < POLLS_MAX && Date.now() < deadline; poll++) {
    await sleep(intervalMs);
    try {
      return await requestToken(
        idp.tokenEndpoint,
        { grant_type: DEVICE_CODE_GRANT, device_code: deviceCode, client_id: options.clientId },
        options.http,
        "Device code login",
      );
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      if (err.error === "authorization_pending") continue;
      if (err.error === "slow_down") {
        intervalMs += 5000;
        continue;
      }
      if (err.error === "expired_token") break;
      if (err.error === "access_denied") {
        throw new PactError(
          "UNAUTHENTICATED",
          "Device code login refused: access denied at the IdP",
        );
      }
      throw err;
    }
  }
  throw new PactError(
    "UNAUTHENTICATED",
    `Device code login expired: nobody entered code ${userCode} within ${expiresIn} s; run \`pact login\` again`,
  );
}

function positiveOr(value: unknown, fallback: number): number {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}
