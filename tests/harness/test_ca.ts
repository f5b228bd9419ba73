/**
 * Throw-away certificates for tests, made with openssl: a CA, then leaf
 * certificates it signs (EC P-256, valid one day).
 */

/** A CA in `dir` (`ca.crt`, `ca.key`) that `issue` signs leaf certificates with. */
export class TestCa {
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Makes the CA's key and self-signed certificate in `dir`. */
  static async create(dir: string): Promise<TestCa> {
    const ca = new TestCa(dir);
    await ca.#openssl(
      "req",
      "-x509",
      ...EC_KEY,
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "1",
      "-subj",
      "/CN=pact test CA",
    );
    return ca;
  }

  get caFile(): string {
    return `${this.dir}/ca.crt`;
  }

  /**
   * Issues `<name>.crt` and `<name>.key` with the given subject alternative
   * names (e.g. `DNS:pact-etcd,IP:127.0.0.1`) and extended key usages.
   */
  async issue(
    name: string,
    subjectAltName: string,
    extendedKeyUsage: string,
  ): Promise<{ certFile: string; keyFile: string }> {
    await Deno.writeTextFile(
      `${this.dir}/${name}.ext`,
      `subjectAltName=${subjectAltName}\n` +
        "keyUsage=critical,digitalSignature,keyEncipherment\n" +
        `extendedKeyUsage=${extendedKeyUsage}\n`,
    );
    await this.#openssl(
      "req",
      ...EC_KEY,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${name}`,
    );
    await this.#openssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.crt`,
      "-days",
      "1",
      "-extfile",
      `${name}.ext`,
    );
    return { certFile: `${this.dir}/${name}.crt`, keyFile: `${this.dir}/${name}.key` };
  }

  async #openssl(...args: string[]): Promise<void> {
    const out = await new Deno.Command("openssl", {
      args,
      cwd: this.dir,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
    }
  }
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
