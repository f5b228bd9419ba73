/** Limits the journal enforces on every entry (reference rules ND1, ND2, J5). */
export const TTL_SECONDS_MIN = 900;
export const TTL_SECONDS_MAX = 864_000;
/** Largest overlay accepted, in bytes. */
export const OVERLAY_BYTES_MAX = 10 * 1024 * 1024;
/** Largest encoded entry accepted, in bytes (an overlay plus headroom). */
export const ENTRY_BYTES_MAX = 12 * 1024 * 1024;
export const MESSAGE_CHARS_MAX = 4096;
export const METADATA_KEYS_MAX = 64;
export const METADATA_VALUE_CHARS_MAX = 4096;
export const REQUEST_ID_CHARS_MAX = 128;
/** Default emergency window (4 h), used when a policy does not set one. */
export const EMERGENCY_WINDOW_SECONDS_DEFAULT = 14_400;
