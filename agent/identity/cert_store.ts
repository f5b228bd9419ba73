/**
 * Where an agent keeps its key and certificate: in memory only (diskless
 * default), or under `cert_dir` as `key.pem` (mode 0600) and `cert.pem`,
 * so that a restarted agent reuses a still-valid certificate instead of
 * enrolling again. A key file others may read is refused, not fixed.
 */
import { PactError } from "../../shared/errors/mod.ts";

/** A key and the certificate issued for it, as PEM. */
export interface StoredIdentity {
  readonly keyPem: string;
  readonly certPem: string;
}

const KEY_FILE = "key.pem";
const CERT_FILE = "cert.pem";

/** Keeps the agent's identity in memory or in a directory. */
export class CertStore {
  readonly certDir: string | undefined;
  #memory: StoredIdentity | undefined;

  /** `certDir` undefined: memory only. */
  constructor(certDir: string | undefined) {
    this.certDir = certDir;
  }

  /** The stored identity, or undefined; throws CONFIG for a key file others may read. */
  async load(): Promise<StoredIdentity | undefined> {
    if (this.certDir === undefined) return this.#memory;
    const keyPath = `${this.certDir}/${KEY_FILE}`;
    let mode: number | null;
    try {
      mode = (await Deno.stat(keyPath)).mode;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw new PactError("CONFIG", `Cannot read the agent key ${keyPath}: ${brief(err)}`);
    }
    if (mode !== null && (mode & 0o077) !== 0) {
      throw new PactError(
        "CONFIG",
        `Refusing the agent key ${keyPath}: mode ${
          (mode & 0o777).toString(8).padStart(4, "0")
        } lets others read it (chmod 0600 or remove it)`,
      );
    }
    try {
      return {
        keyPem: await Deno.readTextFile(keyPath),
        certPem: await Deno.readTextFile(`${this.certDir}/${CERT_FILE}`),
      };
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw new PactError(
        "CONFIG",
        `Cannot read the agent identity in ${this.certDir}: ${brief(err)}`,
      );
    }
  }

  /** Replaces the stored identity (files written 0600, then renamed into place). */
  async save(identity: StoredIdentity): Promise<void> {
    this.#memory = identity;
    if (this.certDir === undefined) return;
    await Deno.mkdir(this.certDir, { recursive: true, mode: 0o700 });
    await writeAtomic(`${this.certDir}/${KEY_FILE}`, identity.keyPem);
    await writeAtomic(`${this.certDir}/${CERT_FILE}`, identity.certPem);
  }
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const temporary = `${path}.tmp`;
  await Deno.writeTextFile(temporary, text, { mode: 0o600 });
  await Deno.chmod(temporary, 0o600);
  await Deno.rename(temporary, path);
}

function brief(err: unknown): string {
  return ((err as Error)?.message ?? String(err)).split("\n", 1)[0]!;
}
