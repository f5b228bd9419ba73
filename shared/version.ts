/** The pact release version, printed by `--version` of every binary. */
export const PACT_VERSION = "2026.11.0";
