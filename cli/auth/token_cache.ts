/**
 * The CLI's token cache: one JSON file (`tokens.json` in the config
 * directory) with an entry per journal server, written atomically with
 * mode 0600, and a lock file that serializes refreshes across processes.
 */
import { PactError } from "../../shared/errors/mod.ts";

/** The tokens of one server. */
export interface CachedSession {
  readonly access_token: string;
  readonly refresh_token?: string;
  /** Unix seconds when the access token expires. */
  readonly expires_at: number;
  readonly scopes: readonly string[];
  readonly idp_issuer: string;
  readonly client_id: string;
  readonly token_endpoint: string;
  readonly revocation_endpoint?: string;
  /** How the session was obtained: auth-code, device-code or client-credentials. */
  readonly flow: LoginFlow;
}

/** The login flows of `pact login`. */
export type LoginFlow = "auth-code" | "device-code" | "client-credentials";

/** The whole file. */
export interface TokenCacheFile {
  readonly version: 1;
  /** The first server logged into; used when no endpoint is given. */
  readonly default_server: string | undefined;
  readonly servers: Readonly<Record<string, CachedSession>>;
}

/**
 * What to do with a cache readable by others: `strict` (default) refuses
 * it, `lenient` warns, fixes the mode and goes on.
 */
export type PermissionMode = "strict" | "lenient";

const EMPTY: TokenCacheFile = { version: 1, default_server: undefined, servers: {} };
const LOCK_WAIT_MS = 30_000;

/** The cache file of one config directory. */
export class TokenCache {
  readonly path: string;
  readonly #permissions: PermissionMode;
  readonly #warn: (text: string) => void;

  constructor(dir: string, permissions: PermissionMode, warn: (text: string) => void) {
    this.path = `${dir}/tokens.json`;
    this.#permissions = permissions;
    this.#warn = warn;
  }

  /**
   * Reads the cache (empty when there is none). A cache readable by group
   * or others is refused in strict mode and repaired in lenient mode; a
   * corrupt cache is refused (fail closed).
   */
  async read(): Promise<TokenCacheFile> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(this.path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return EMPTY;
      throw new PactError(
        "UNAUTHENTICATED",
        `Cannot read the token cache ${this.path}: ${brief(err)}`,
      );
    }
    await this.#checkMode(info);
    const text = await Deno.readTextFile(this.path);
    return parseCache(text, this.path);
  }

  /** Reads for rewriting (login, logout): a loose or corrupt cache is replaced, with a warning. */
  async readForRewrite(): Promise<TokenCacheFile> {
    try {
      return await this.read();
    } catch (err) {
      if (!(err instanceof PactError)) throw err;
      this.#warn(`Warning: ${err.message}; replacing it`);
      return EMPTY;
    }
  }

  /** Writes the cache atomically (temp file with mode 0600, then rename). */
  async write(cache: TokenCacheFile): Promise<void> {
    const dir = this.path.slice(0, this.path.lastIndexOf("/"));
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const temp = `${this.path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
    try {
      await Deno.writeTextFile(temp, `${JSON.stringify(cache, null, 2)}\n`, { mode: 0o600 });
      await Deno.chmod(temp, 0o600);
      await Deno.rename(temp, this.path);
    } catch (err) {
      await Deno.remove(temp).catch(() => {});
      throw new PactError(
        "UNAUTHENTICATED",
        `Cannot write the token cache ${this.path}: ${brief(err)}`,
      );
    }
  }

  /**
   * Runs `body` holding an exclusive lock (flock on `tokens.json.lock`,
   * released by the kernel if the process dies), so that only one process
   * refreshes a session at a time. Waits at most 30 s for the lock.
   */
  async withLock<T>(body: () => Promise<T>): Promise<T> {
    const dir = this.path.slice(0, this.path.lastIndexOf("/"));
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const file = await Deno.open(`${this.path}.lock`, { create: true, write: true, mode: 0o600 });
    try {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new PactError(
                "UNAUTHENTICATED",
                `Cannot lock the token cache: ${this.path}.lock is held by another pact for over ${
                  LOCK_WAIT_MS / 1000
                } s`,
              ),
            ),
          LOCK_WAIT_MS,
        );
      });
      try {
        await Promise.race([file.lock(true), timeout]);
      } finally {
        clearTimeout(timer);
      }
      return await body();
    } finally {
      file.close();
    }
  }

  async #checkMode(info: Deno.FileInfo): Promise<void> {
    const mode = info.mode;
    if (mode === null || (mode & 0o077) === 0) return;
    const octal = (mode & 0o777).toString(8).padStart(4, "0");
    if (this.#permissions === "strict") {
      throw new PactError(
        "UNAUTHENTICATED",
        `Token cache ${this.path} has mode ${octal} (readable by others): refusing it; ` +
          "run `pact login` again (it rewrites the cache with mode 0600) or set " +
          "PACT_TOKEN_CACHE_PERMISSIONS=lenient",
      );
    }
    this.#warn(`Warning: token cache ${this.path} had mode ${octal}; set it to 0600`);
    await Deno.chmod(this.path, 0o600);
  }
}

/** Parses and checks the file; anything unexpected is CacheCorrupted (exit 2). */
export function parseCache(text: string, path: string): TokenCacheFile {
  const corrupt = (why: string) =>
    new PactError("UNAUTHENTICATED", `Token cache ${path} is corrupt (${why}): run \`pact login\``);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw corrupt("not JSON");
  }
  const file = value as Partial<TokenCacheFile> | null;
  if (file === null || typeof file !== "object") throw corrupt("not an object");
  if (file.version !== 1) throw corrupt(`version ${JSON.stringify(file.version)}, expected 1`);
  if (typeof file.servers !== "object" || file.servers === null) throw corrupt("no servers");
  for (const [server, session] of Object.entries(file.servers)) {
    const s = session as Partial<CachedSession> | null;
    if (
      !s || typeof s.access_token !== "string" || typeof s.expires_at !== "number" ||
      typeof s.token_endpoint !== "string" || typeof s.client_id !== "string"
    ) {
      throw corrupt(`entry ${JSON.stringify(server)} is incomplete`);
    }
  }
  return {
    version: 1,
    default_server: typeof file.default_server === "string" ? file.default_server : undefined,
    servers: file.servers,
  };
}

/** The cache key of a journal endpoint: its origin (`http://host:port`). */
export function serverKey(endpoint: string): string {
  try {
    const url = new URL(endpoint.includes("://") ? endpoint : `http://${endpoint}`);
    return url.origin;
  } catch {
    throw new PactError("INVALID_ARGUMENT", `Invalid server ${JSON.stringify(endpoint)}`);
  }
}

/** Parses PACT_TOKEN_CACHE_PERMISSIONS / cli.toml `token_cache_permissions`. */
export function permissionMode(text: string | undefined): PermissionMode {
  if (text === undefined || text === "" || text === "strict") return "strict";
  if (text === "lenient") return "lenient";
  throw new PactError(
    "INVALID_ARGUMENT",
    `Invalid token cache permission mode ${JSON.stringify(text)} (use strict or lenient)`,
  );
}

function brief(err: unknown): string {
  return (err as Error).message.split("\n")[0]!.replace(/ \(os error \d+\).*$/, "");
}
