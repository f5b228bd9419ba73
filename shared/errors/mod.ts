/** Error model shared by every pact component. */
export { isPactError, PactError } from "./pact_error.ts";
export type { ErrorCode } from "./pact_error.ts";
export { ExitCode, exitCodeFor } from "./exit_code.ts";
