import { PactError } from "../shared/errors/mod.ts";
import type { JournalApi } from "./ops/journal_port.ts";
import {
  type GlobalFlags,
  resolveSettings,
  type Settings,
  type SettingsSources,
} from "./settings.ts";

/** Where a command's output goes. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

/**
 * What commands share: the merged settings, the output streams, and a
 * lazily created journal client (so that commands that never call the
 * journal never load gRPC).
 */
export class CliContext {
  readonly io: Io;
  readonly #flags: () => GlobalFlags;
  readonly #sources: SettingsSources;
  #settings: Promise<Settings> | undefined;
  #journal: { close(): void } | undefined;
  /** Exit code of a command that succeeded but reports a problem (e.g. a degraded quorum). */
  #exitCode = 0;

  constructor(flags: () => GlobalFlags, sources: SettingsSources, io: Io) {
    this.#flags = flags;
    this.#sources = sources;
    this.io = io;
  }

  /** Settings after flags > environment > cli.toml > defaults. */
  settings(): Promise<Settings> {
    this.#settings ??= resolveSettings(this.#flags(), this.#sources);
    return this.#settings;
  }

  /** A client for the journal; fails with exit code 2 when no token is configured. */
  async journal(): Promise<JournalApi> {
    const settings = await this.settings();
    if (!settings.token) {
      throw new PactError(
        "UNAUTHENTICATED",
        "Not authenticated: run `pact login`, set PACT_TOKEN, or pass --token",
      );
    }
    const { JournalClient } = await import("./client/journal_client.ts");
    const client = new JournalClient({
      endpoint: settings.endpoint,
      token: settings.token,
      timeoutSeconds: settings.timeoutSeconds,
    });
    this.#journal = client;
    return client;
  }

  /** Prints `data` as JSON, or as `text(data)` in text mode. */
  async print<T>(data: T, text: (data: T) => string): Promise<void> {
    const settings = await this.settings();
    this.io.out(settings.output === "json" ? `${JSON.stringify(data, null, 2)}\n` : text(data));
  }

  /** Sets the exit code the CLI returns when the command finishes without an error. */
  setExitCode(code: number): void {
    this.#exitCode = code;
  }

  get exitCode(): number {
    return this.#exitCode;
  }

  /** Releases the journal connection, if one was opened. */
  close(): void {
    this.#journal?.close();
  }
}
