/**
 * Whether and with which certificate the shell server speaks TLS
 * (`[agent.shell] tls`): `auto` uses `tls_cert_path`/`tls_key_path` when
 * set, else the certificate the agent enrolled with, else plaintext (with a
 * warning); `required` refuses to serve without one; `off` is plaintext.
 * The server credentials are fed by a certificate provider, so a renewed
 * or re-enrolled certificate (or rewritten files) reaches new connections
 * without a restart while open sessions keep the TLS state they began with.
 */
import { experimental, type ServerCredentials } from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import type { ShellTlsMode } from "../config.ts";
import type { AgentIdentity, HeldCertificate } from "../identity/mod.ts";

/** How often explicit certificate files are read again. */
export const TLS_FILE_REFRESH_MS = 60_000;

/** What the shell server serves with. */
export type ShellTls =
  | {
    readonly kind: "tls";
    readonly credentials: ServerCredentials;
    /** Where the certificate comes from, for the log. */
    readonly source: string;
    /** Stops following certificate changes. */
    close(): void;
  }
  /** `reason`: why there is no TLS (tls = off, or auto without a certificate). */
  | { readonly kind: "plaintext"; readonly reason: string; readonly warn: boolean }
  /** The shell must not start: `reason` says why. */
  | { readonly kind: "refused"; readonly reason: string };

/** What decides the shell's TLS. */
export interface ShellTlsOptions {
  readonly mode: ShellTlsMode;
  readonly files: { readonly cert: string; readonly key: string } | undefined;
  /** Root of the managed host (the sandbox in tests): explicit files are under it. */
  readonly hostRoot: string;
  /** The enrolled identity, when the agent enrolled. */
  readonly identity: AgentIdentity | undefined;
}

/** Decides the shell's TLS; never throws for a missing or unreadable certificate. */
export async function shellTls(options: ShellTlsOptions): Promise<ShellTls> {
  const { mode, files, identity } = options;
  if (mode === "off") {
    return { kind: "plaintext", reason: "[agent.shell] tls = off", warn: false };
  }
  if (files) {
    const root = options.hostRoot === "/" ? "" : options.hostRoot.replace(/\/+$/, "");
    const paths = { cert: `${root}${files.cert}`, key: `${root}${files.key}` };
    const problem = await unusableFiles(paths.cert, paths.key);
    if (problem) return { kind: "refused", reason: problem };
    const provider = new experimental.FileWatcherCertificateProvider({
      certificateFile: paths.cert,
      privateKeyFile: paths.key,
      refreshIntervalMs: TLS_FILE_REFRESH_MS,
    });
    return {
      kind: "tls",
      credentials: experimental.createCertificateProviderServerCredentials(provider, null, false),
      source: `certificate file ${files.cert}`,
      close: () => {},
    };
  }
  const held = heldBy(identity);
  if (identity && held) {
    const provider = new HeldCertificateProvider(held);
    const stop = identity.onChange((_change, next) => provider.update(next));
    return {
      kind: "tls",
      credentials: experimental.createCertificateProviderServerCredentials(provider, null, false),
      source: `enrolled certificate ${held.serial} (renewals follow)`,
      close: stop,
    };
  }
  const missing = "no certificate: the agent did not enroll ([agent.enrollment]) " +
    "and [agent.shell] tls_cert_path/tls_key_path are not set";
  return mode === "required"
    ? { kind: "refused", reason: `[agent.shell] tls = "required" but ${missing}` }
    : { kind: "plaintext", reason: `${missing} (tls = "auto")`, warn: true };
}

function heldBy(identity: AgentIdentity | undefined): HeldCertificate | undefined {
  try {
    return identity?.held;
  } catch {
    return undefined;
  }
}

/** Why the files cannot serve TLS, or undefined when both hold PEM. */
async function unusableFiles(cert: string, key: string): Promise<string | undefined> {
  for (
    const [what, path, marker] of [
      ["tls_cert_path", cert, "-----BEGIN CERTIFICATE-----"],
      ["tls_key_path", key, "PRIVATE KEY-----"],
    ] as const
  ) {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      return `[agent.shell] ${what} ${path}: ${(err as Error).message.split("\n", 1)[0]}`;
    }
    if (!text.includes(marker)) return `[agent.shell] ${what} ${path} holds no PEM ${marker}`;
  }
  return undefined;
}

type IdentityListener = experimental.IdentityCertificateUpdateListener;

/** The enrolled certificate as a grpc-js certificate provider (server identity only). */
class HeldCertificateProvider implements experimental.CertificateProvider {
  readonly #listeners = new Set<IdentityListener>();
  #current: experimental.IdentityCertificateUpdate;

  constructor(held: HeldCertificate) {
    this.#current = updateOf(held);
  }

  update(held: HeldCertificate): void {
    this.#current = updateOf(held);
    for (const listener of this.#listeners) this.#send(listener);
  }

  addCaCertificateListener(): void {}
  removeCaCertificateListener(): void {}

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#listeners.add(listener);
    this.#send(listener);
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#listeners.delete(listener);
  }

  /**
   * Later, not now: grpc-js registers its watcher only after adding the
   * listener, so an update sent synchronously would never reach the server.
   */
  #send(listener: IdentityListener): void {
    const current = this.#current;
    queueMicrotask(() => listener(current));
  }
}

function updateOf(held: HeldCertificate): experimental.IdentityCertificateUpdate {
  return { certificate: Buffer.from(held.certPem), privateKey: Buffer.from(held.keyPem) };
}
