/**
 * The members of `oidc-provider` the test harness uses, typed by hand (the
 * package ships no types, and @types/oidc-provider pulls @types/node into
 * every type check).
 */
import type { IncomingMessage, ServerResponse } from "node:http";

/** Koa context with the provider's `oidc` part. */
export interface OidcContext {
  body: unknown;
  readonly oidc: {
    readonly route: string;
    readonly params?: Record<string, unknown>;
  };
}

/** A registered client. */
export interface OidcClient {
  grantTypeAllowed(type: string): boolean;
}

/** An access token being issued. */
export interface OidcToken {
  readonly accountId?: string;
  readonly clientId?: string;
}

/** A grant (what a user consented to for a client). */
export interface OidcGrant {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  addResourceScope(indicator: string, scope: string): void;
  save(): Promise<string>;
}

/** What an interaction (login or consent prompt) is about. */
export interface InteractionDetails {
  readonly uid: string;
  readonly prompt: { readonly name: string; readonly details: Record<string, unknown> };
  readonly params: Record<string, unknown>;
  readonly session?: { readonly accountId: string };
  readonly grantId?: string;
}

/** A provider instance. */
export interface OidcProvider {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  on(event: string, listener: (ctx: OidcContext, err: { error?: string }) => void): void;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
  interactionFinished(
    req: IncomingMessage,
    res: ServerResponse,
    result: Record<string, unknown>,
    options: { mergeWithLastSubmission: boolean },
  ): Promise<void>;
  readonly Grant: {
    new (properties: { accountId: string; clientId: string }): OidcGrant;
    find(id: string): Promise<OidcGrant | undefined>;
  };
}

/** The default export of `oidc-provider`. */
export type ProviderClass = new (issuer: string, configuration: object) => OidcProvider;
