import { mintDevToken } from "../../shared/auth/dev_token.ts";
import type { PrincipalType } from "../../shared/auth/principal.ts";
import { BIN } from "./paths.ts";

/** Settings every test journal uses for development tokens. */
export const TEST_AUTH = {
  secret: "test-secret-not-for-production",
  issuer: "https://idp.test.pact",
  audience: "pact-cli",
} as const;

/** Options of a journal started for a test. */
export interface JournalProcessOptions {
  /** Reuse a data directory (to restart over the same log). */
  readonly dataDir?: string;
  /** Extra environment for the journal. */
  readonly env?: Record<string, string>;
  /** Extra command-line arguments. */
  readonly args?: string[];
  /** Fixed gRPC port; 0 (default) lets the OS choose. */
  readonly grpcPort?: number;
}

/**
 * A real `bin/pact-journal` process on loopback, with ports chosen by the
 * OS and read back from its ready line.
 */
export class JournalProcess {
  readonly dataDir: string;
  readonly grpcAddress: string;
  readonly httpUrl: string;
  readonly #child: Deno.ChildProcess;
  readonly #log: string[];
  readonly #ownsDir: boolean;
  #exited: Promise<Deno.CommandStatus>;

  private constructor(
    child: Deno.ChildProcess,
    log: string[],
    dataDir: string,
    ownsDir: boolean,
    grpc: string,
    http: string,
  ) {
    this.#child = child;
    this.#log = log;
    this.dataDir = dataDir;
    this.#ownsDir = ownsDir;
    this.grpcAddress = grpc;
    this.httpUrl = `http://${http}`;
    this.#exited = child.status;
  }

  /** Starts a journal and waits until it reports ready (at most `timeoutMs`). */
  static async start(
    options: JournalProcessOptions = {},
    timeoutMs = 20_000,
  ): Promise<JournalProcess> {
    const ownsDir = options.dataDir === undefined;
    const dataDir = options.dataDir ?? await Deno.makeTempDir({ prefix: "pact-test-journal-" });
    if (!(await exists(`${dataDir}/journal.toml`))) {
      // An explicit, empty config keeps the host's /etc/pact/journal.toml out of tests.
      await Deno.writeTextFile(`${dataDir}/journal.toml`, "");
    }
    const child = new Deno.Command(`${BIN}/pact-journal`, {
      args: [
        "--data-dir",
        dataDir,
        "--listen",
        `127.0.0.1:${options.grpcPort ?? 0}`,
        "--metrics-listen",
        "127.0.0.1:0",
        "--config",
        `${dataDir}/journal.toml`,
        ...(options.args ?? []),
      ],
      env: {
        PACT_OIDC_HMAC_SECRET: TEST_AUTH.secret,
        PACT_OIDC_ISSUER: TEST_AUTH.issuer,
        PACT_OIDC_AUDIENCE: TEST_AUTH.audience,
        PACT_LOG_LEVEL: "info",
        ...options.env,
      },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const log: string[] = [];
    const ready = readUntilReady(child, log);
    const timer = new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`pact-journal not ready after ${timeoutMs} ms:\n${log.join("\n")}`)),
        timeoutMs,
      )
    );
    try {
      const { grpc, http } = await Promise.race([ready, timer]);
      return new JournalProcess(child, log, dataDir, ownsDir, grpc, http);
    } catch (err) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
      throw err;
    }
  }

  /** `http://127.0.0.1:<port>`, as the CLI takes it. */
  get endpoint(): string {
    return `http://${this.grpcAddress}`;
  }

  /** Everything the journal has logged so far. */
  get log(): string {
    return this.#log.join("\n");
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** A development token the journal accepts. */
  token(
    role = "pact-platform-admin",
    principal = "admin@example.org",
    principalType: PrincipalType = "human",
  ) {
    return mintDevToken({ ...TEST_AUTH, principal, role, principalType });
  }

  /** Sends SIGTERM and waits for a clean exit; returns the exit status. */
  async stop(): Promise<Deno.CommandStatus> {
    try {
      this.#child.kill("SIGTERM");
    } catch { /* already gone */ }
    return await this.#exited;
  }

  /** Sends SIGKILL (no chance to flush or snapshot) and waits. */
  async kill(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch { /* already gone */ }
    await this.#exited;
  }

  /** Stops the journal and removes its data directory if the test did not supply one. */
  async dispose(): Promise<void> {
    await this.stop();
    if (this.#ownsDir) await Deno.remove(this.dataDir, { recursive: true }).catch(() => {});
  }
}

/** Reads stderr lines into `log` until the ready line; keeps draining afterwards. */
async function readUntilReady(
  child: Deno.ChildProcess,
  log: string[],
): Promise<{ grpc: string; http: string }> {
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).pipeThrough(new LineSplitter());
  const reader = lines.getReader();
  while (true) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`pact-journal exited before it was ready:\n${log.join("\n")}`);
    log.push(value);
    const match = /ready: gRPC on (\S+), HTTP on (\S+),/.exec(value);
    if (match) {
      void (async () => {
        while (true) {
          const next = await reader.read().catch(() => ({ done: true, value: undefined }));
          if (next.done) return;
          log.push(next.value!);
        }
      })();
      return { grpc: match[1]!, http: match[2]! };
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Splits a text stream into lines. */
export class LineSplitter extends TransformStream<string, string> {
  constructor() {
    let buffer = "";
    super({
      transform(chunk, controller) {
        buffer += chunk;
        const lines = buffer.split("\n");
        buffer = lines.pop()!;
        for (const line of lines) controller.enqueue(line);
      },
      flush(controller) {
        if (buffer) controller.enqueue(buffer);
      },
    });
  }
}
