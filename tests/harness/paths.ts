/** Absolute paths of the checkout, for tests that start real processes. */
export const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
export const BIN = `${ROOT}/bin`;
