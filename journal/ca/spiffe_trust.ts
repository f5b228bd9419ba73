/**
 * SPIRE-issued agent identities on the journal (reference §2.10 identity
 * cascade): an X.509-SVID is accepted as a node's client certificate only
 * when it is signed by a CA of the configured SPIFFE trust bundle
 * (`[journal.enrollment] spiffe_trust_bundle`) and its one URI SAN is
 * `spiffe://<spiffe_trust_domain>/pact-agent/<node-id>`, the same path the
 * journal's own CA puts in the certificates it signs.
 */
import { EC_P256, x509 } from "../../shared/crypto/x509.ts";
import { isValidId } from "../../shared/domain/scope.ts";
import { PactError } from "../../shared/errors/mod.ts";

/** The SPIFFE ID that names `nodeId` in `trustDomain`. */
export function spiffeNodeId(trustDomain: string, nodeId: string): string {
  return `spiffe://${trustDomain}/pact-agent/${nodeId}`;
}

/** The trust domain and the CA certificates SVIDs must be signed by. */
export class SpiffeTrust {
  readonly trustDomain: string;
  readonly bundlePem: string;
  readonly #keys: Promise<CryptoKey>[];

  constructor(trustDomain: string, bundlePem: string) {
    const blocks = bundlePem.match(
      /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g,
    ) ?? [];
    if (blocks.length === 0) {
      throw new PactError("CONFIG", "The SPIFFE trust bundle holds no PEM certificate");
    }
    this.trustDomain = trustDomain;
    this.bundlePem = blocks.join("\n") + "\n";
    this.#keys = blocks.map((pem) =>
      new x509.X509Certificate(pem).publicKey.export(EC_P256, ["verify"])
    );
  }

  /** Reads the bundle file; a missing or unreadable one is a CONFIG error. */
  static async load(trustDomain: string, bundleFile: string): Promise<SpiffeTrust> {
    let text: string;
    try {
      text = await Deno.readTextFile(bundleFile);
    } catch (err) {
      throw new PactError(
        "CONFIG",
        `Cannot read the SPIFFE trust bundle ${bundleFile}: ${
          (err as Error).message.split("\n", 1)[0]
        }`,
      );
    }
    return new SpiffeTrust(trustDomain, text);
  }

  /** Whether `cert` carries a SPIFFE ID of this trust domain (so it is ours to judge). */
  claims(cert: x509.X509Certificate): boolean {
    return uris(cert).some((uri) => uri.startsWith(`spiffe://${this.trustDomain}/`));
  }

  /**
   * The node an SVID names, or the reason it is refused: not signed by the
   * bundle, or not exactly one URI SAN naming a pact node.
   */
  async nodeOf(
    cert: x509.X509Certificate,
  ): Promise<{ readonly node: string } | { readonly refusal: string }> {
    const names = uris(cert);
    if (names.length !== 1) {
      return {
        refusal: `SVID ${cert.serialNumber} carries ${names.length} URI SANs (an SVID has one)`,
      };
    }
    const prefix = spiffeNodeId(this.trustDomain, "");
    const node = names[0]!.startsWith(prefix) ? names[0]!.slice(prefix.length) : undefined;
    if (node === undefined || !isValidId(node)) {
      return { refusal: `SVID ${names[0]} names no pact node (expected ${prefix}<node-id>)` };
    }
    for (const key of this.#keys) {
      const ok = await cert.verify({ publicKey: await key, signatureOnly: true })
        .catch(() => false);
      if (ok) return { node };
    }
    return {
      refusal: `SVID ${names[0]} is not signed by the SPIFFE trust bundle of ${this.trustDomain}`,
    };
  }
}

function uris(cert: x509.X509Certificate): string[] {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  return san?.names.items.filter((n) => n.type === "url").map((n) => n.value) ?? [];
}
