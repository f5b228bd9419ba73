/**
 * Checks a node's certificate signing request before the CA signs it:
 * size, PKCS#10 structure, its self-signature (the node holds the key) and
 * the key type (ECDSA P-256 only). Everything else in the CSR is ignored:
 * the journal writes the subject and SANs itself.
 */
import { x509 } from "../../shared/crypto/x509.ts";
import { EnrollmentError } from "../state/enrollments.ts";

/** Largest CSR accepted, in DER bytes (a P-256 CSR is ~250). */
export const CSR_BYTES_MAX = 4096;

/** A CSR that passed every check. */
export interface CheckedCsr {
  readonly publicKey: x509.PublicKey;
  /** The CN the node asked for, if any ("" otherwise). */
  readonly commonName: string;
}

/** Parses and checks `der`; throws EnrollmentError (CSR_*) with the reason. */
export async function checkCsr(der: Uint8Array): Promise<CheckedCsr> {
  if (der.length === 0) {
    throw new EnrollmentError("CSR_INVALID", "INVALID_ARGUMENT", "CSR required: csr_der is empty");
  }
  if (der.length > CSR_BYTES_MAX) {
    throw new EnrollmentError(
      "CSR_TOO_LARGE",
      "INVALID_ARGUMENT",
      `CSR too large: ${der.length} bytes exceeds ${CSR_BYTES_MAX}`,
    );
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(der as Uint8Array<ArrayBuffer>);
  } catch {
    throw new EnrollmentError(
      "CSR_INVALID",
      "INVALID_ARGUMENT",
      "CSR is malformed: not a DER-encoded PKCS#10 request",
    );
  }
  const algorithm = csr.publicKey.algorithm as EcKeyAlgorithm;
  if (algorithm.name !== "ECDSA" || algorithm.namedCurve !== "P-256") {
    throw new EnrollmentError(
      "CSR_KEY_UNSUPPORTED",
      "INVALID_ARGUMENT",
      `CSR key type not accepted: ${describe(algorithm)} (pact issues ECDSA P-256 only)`,
    );
  }
  let valid = false;
  try {
    valid = await csr.verify();
  } catch {
    valid = false;
  }
  if (!valid) {
    throw new EnrollmentError(
      "CSR_INVALID",
      "INVALID_ARGUMENT",
      "CSR signature does not verify: the request was not signed with its own key",
    );
  }
  const cn = csr.subjectName.getField("CN")[0] ?? "";
  return { publicKey: csr.publicKey, commonName: cn };
}

function describe(algorithm: EcKeyAlgorithm | KeyAlgorithm): string {
  const curve = (algorithm as EcKeyAlgorithm).namedCurve;
  const bits = (algorithm as RsaHashedKeyAlgorithm).modulusLength;
  return [algorithm.name, curve, bits && `${bits} bits`].filter(Boolean).join(" ");
}
