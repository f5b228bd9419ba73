/** Token validation and principals shared by the journal and the agent. */
export * from "./principal.ts";
export * from "./token_verifier.ts";
export { JwksCache, pinnedAlg } from "./jwks_cache.ts";
export type { AsymmetricAlg, JwksCacheOptions, PinnedKey } from "./jwks_cache.ts";
export { mintDevToken } from "./dev_token.ts";
export type { DevTokenClaims } from "./dev_token.ts";
