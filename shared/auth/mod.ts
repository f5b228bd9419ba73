/** Token validation and principals shared by the journal and the agent. */
export * from "./principal.ts";
export * from "./token_verifier.ts";
export { mintDevToken } from "./dev_token.ts";
export type { DevTokenClaims } from "./dev_token.ts";
