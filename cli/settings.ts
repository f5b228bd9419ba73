import { PactError } from "../shared/errors/mod.ts";
import { parseToml, TomlReader, type TomlTable } from "../shared/config/toml_file.ts";

/** Output format of every command. */
export type OutputFormat = "text" | "json";

/** Global flags every command accepts. */
export interface GlobalFlags {
  readonly endpoint?: string | undefined;
  readonly token?: string | undefined;
  readonly vcluster?: string | undefined;
  readonly output?: string | undefined;
  readonly json?: boolean | undefined;
  readonly timeout?: string | undefined;
}

/** The CLI's settings after flags, environment, cli.toml and defaults are merged. */
export interface Settings {
  readonly endpoint: string;
  /** True when a flag, PACT_ENDPOINT or cli.toml named the endpoint (else the cache's default server applies). */
  readonly endpointExplicit: boolean;
  /** Undefined when no source gave a token; commands then use `pact login`'s cache. */
  readonly token: string | undefined;
  readonly vcluster: string | undefined;
  readonly output: OutputFormat;
  readonly timeoutSeconds: number;
  readonly configPath: string;
  /** The config directory (`~/.config/pact`): cli.toml, token file, token cache. */
  readonly configDir: string;
  /** PACT_TOKEN_CACHE_PERMISSIONS or cli.toml `token_cache_permissions`: strict (default) or lenient. */
  readonly tokenCachePermissions: string | undefined;
}

/** Where the CLI reads its environment and files; injected so tests need no real ones. */
export interface SettingsSources {
  env(name: string): string | undefined;
  readTextFile(path: string): Promise<string>;
}

export const DEFAULT_ENDPOINT = "http://localhost:9443";
const DEFAULT_TIMEOUT_SECONDS = 30;

/** `~/.config/pact` (or `$XDG_CONFIG_HOME/pact`). */
export function configDir(env: (name: string) => string | undefined): string {
  const base = env("XDG_CONFIG_HOME") || `${env("HOME") ?? ""}/.config`;
  return `${base}/pact`;
}

/**
 * Resolves settings with the precedence flags > environment (PACT_ENDPOINT,
 * PACT_TOKEN, PACT_VCLUSTER, PACT_OUTPUT) > ~/.config/pact/cli.toml > defaults.
 */
export async function resolveSettings(
  flags: GlobalFlags,
  sources: SettingsSources,
): Promise<Settings> {
  const dir = configDir(sources.env);
  const configPath = `${dir}/cli.toml`;
  const toml = new TomlReader(await readConfigFile(configPath, sources), configPath);
  const pick = <T>(...values: (T | undefined)[]) => values.find((v) => v !== undefined && v !== "");
  const output = flags.json
    ? "json"
    : pick(flags.output, sources.env("PACT_OUTPUT"), toml.string("", "output_format"));
  const timeout = pick(flags.timeout, toml.integer("", "timeout_seconds")?.toString()) ??
    String(DEFAULT_TIMEOUT_SECONDS);
  const tokenPath = expandHome(
    toml.string("", "token_path") ?? `${dir}/token`,
    sources.env("HOME"),
  );
  const endpoint = pick(flags.endpoint, sources.env("PACT_ENDPOINT"), toml.string("", "endpoint"));
  return {
    endpoint: endpoint ?? DEFAULT_ENDPOINT,
    endpointExplicit: endpoint !== undefined,
    token: pick(flags.token, sources.env("PACT_TOKEN"), toml.string("", "token")) ??
      await readTokenFile(tokenPath, sources),
    vcluster: pick(
      flags.vcluster,
      sources.env("PACT_VCLUSTER"),
      toml.string("", "default_vcluster"),
    ),
    output: outputFormat(output ?? "text"),
    timeoutSeconds: timeoutSeconds(timeout),
    configPath,
    configDir: dir,
    tokenCachePermissions: pick(
      sources.env("PACT_TOKEN_CACHE_PERMISSIONS"),
      toml.string("", "token_cache_permissions"),
    ),
  };
}

async function readConfigFile(
  path: string,
  sources: SettingsSources,
): Promise<TomlTable | undefined> {
  let text: string;
  try {
    text = await sources.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotCapable) {
      return undefined;
    }
    throw new PactError("CONFIG", `Cannot read ${path}: ${(err as Error).message}`);
  }
  return parseToml(text, path);
}

async function readTokenFile(path: string, sources: SettingsSources): Promise<string | undefined> {
  try {
    return (await sources.readTextFile(path)).trim() || undefined;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotCapable) {
      return undefined;
    }
    throw new PactError("CONFIG", `Cannot read token file ${path}: ${(err as Error).message}`);
  }
}

/** `~/x` → `$HOME/x`, as users expect in config files. */
function expandHome(path: string, home: string | undefined): string {
  return path.startsWith("~/") && home ? `${home}${path.slice(1)}` : path;
}

function outputFormat(text: string): OutputFormat {
  if (text === "text" || text === "json") return text;
  throw new PactError(
    "INVALID_ARGUMENT",
    `Invalid output format ${JSON.stringify(text)} (use text or json)`,
  );
}

function timeoutSeconds(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || value > 3600) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Invalid timeout ${JSON.stringify(text)} (seconds, 1-3600)`,
    );
  }
  return value;
}
