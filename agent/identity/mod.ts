/**
 * The agent's machine identity: hardware facts, enrollment, mTLS
 * credentials for journal calls, renewal and re-enrollment.
 */
export {
  AgentIdentity,
  type AgentIdentityOptions,
  type HeldCertificate,
  type IdentityChange,
  type IdentitySource,
  JOURNAL_SERVER_NAME,
  mtlsCredentials,
} from "./agent_identity.ts";
export { CertStore, type StoredIdentity } from "./cert_store.ts";
export { EnrollmentCallError } from "./enrollment_calls.ts";
export { type HardwareSources, readHardwareIdentity } from "./hardware.ts";
export {
  nodeOfSpiffeId,
  SPIRE_TIMEOUT_MS,
  SpireWorkloadSource,
  type Svid,
  type SvidSource,
} from "./spire_source.ts";
