/**
 * The agent's boot sequence as a real process (`agent/boot/run_boot.ts`
 * under the pinned deno) booting a sandbox host rooted in a directory, for
 * tests and the agent-boot benchmark.
 */
import { writeSandbox } from "../../agent/host/sandbox_host.ts";
import { type JournalProcess, TEST_AUTH } from "./journal_process.ts";
import { ROOT } from "./paths.ts";

/** `[agent.shell.auth]` that accepts the test journal's tokens (TEST_AUTH). */
export const TEST_SHELL_AUTH = [
  "[agent.shell.auth]",
  `issuer = "${TEST_AUTH.issuer}"`,
  `audience = "${TEST_AUTH.audience}"`,
  `hmac_secret = "${TEST_AUTH.secret}"`,
  "",
].join("\n");

/** A sandbox node: its root directory and the agent.toml that boots it. */
export interface SandboxNode {
  readonly root: string;
  readonly configPath: string;
}

/** Writes agent.toml for node `nodeId` rooted at a fresh sandbox directory. */
export async function sandboxNode(
  nodeId: string,
  vcluster: string,
  endpoints: readonly string[],
): Promise<SandboxNode> {
  const root = await Deno.makeTempDir({ prefix: `pact-boot-${nodeId}-` });
  // The kernel's parameters exist before boot sets them, as on a real node.
  await writeSandbox(root, {
    sysctl: { "vm.swappiness": "60", "kernel.pid_max": "32768", "net.core.somaxconn": "4096" },
  });
  const configPath = `${root}.agent.toml`;
  await Deno.writeTextFile(
    configPath,
    [
      "[agent]",
      `node_id = "${nodeId}"`,
      `vcluster = "${vcluster}"`,
      "[agent.journal]",
      `endpoints = [${endpoints.map((e) => `"${e}"`).join(", ")}]`,
      "[agent.host]",
      `root = "${root}"`,
      // Tests stay on loopback: the shell server's default is 0.0.0.0:9445.
      "[agent.shell]",
      'listen = "127.0.0.1:0"',
      "",
    ].join("\n"),
  );
  return { root, configPath };
}

/** Removes a sandbox node's directory and config. */
export async function removeSandboxNode(node: SandboxNode): Promise<void> {
  await Deno.remove(node.root, { recursive: true }).catch(() => {});
  await Deno.remove(node.configPath).catch(() => {});
}

/** A running boot process with its stderr collected line by line. */
export class BootAgentProcess {
  readonly #child: Deno.ChildProcess;
  readonly #lines: string[] = [];
  readonly #waiters: { match: RegExp; resolve: (line: string) => void }[] = [];
  readonly exited: Promise<Deno.CommandStatus>;
  readonly #drained: Promise<void>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#drained = this.#read(child.stderr);
    this.exited = child.status;
  }

  /**
   * Starts `run_boot.ts` (or, with `script: "agent"`, the whole agent,
   * `agent/main.ts`, as bin/pact-agent runs it) with `args` and the agent's
   * token in the environment.
   */
  static start(
    args: readonly string[],
    env: Record<string, string>,
    script: "boot" | "agent" = "boot",
  ): BootAgentProcess {
    const entry = script === "agent" ? "agent/main.ts" : "agent/boot/run_boot.ts";
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--no-prompt", "--allow-all", `${ROOT}/${entry}`, ...args],
      env: { DENO_NO_UPDATE_CHECK: "1", ...env },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    return new BootAgentProcess(child);
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** Everything logged so far. */
  get log(): string {
    return this.#lines.join("\n");
  }

  /** Resolves with the first line matching `match` (already logged or later). */
  waitForLine(match: RegExp, timeoutMs = 20_000): Promise<string> {
    const found = this.#lines.find((line) => match.test(line));
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`No line matching ${match} within ${timeoutMs} ms:\n${this.log}`)),
        timeoutMs,
      );
      this.#waiters.push({
        match,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  }

  /** SIGTERM, then the exit status and full log. */
  async stop(): Promise<Deno.CommandStatus> {
    try {
      this.#child.kill("SIGTERM");
    } catch { /* already gone */ }
    const status = await this.exited;
    await this.#drained;
    return status;
  }

  /** Waits for the process to end by itself (a failed boot). */
  async finished(): Promise<Deno.CommandStatus> {
    const status = await this.exited;
    await this.#drained;
    return status;
  }

  async #read(stream: ReadableStream<Uint8Array>): Promise<void> {
    let buffer = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      buffer += text;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        this.#line(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
      }
    }
    if (buffer !== "") this.#line(buffer);
  }

  #line(line: string): void {
    this.#lines.push(line);
    for (const waiter of [...this.#waiters]) {
      if (waiter.match.test(line)) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  }
}

/** Polls for a file until it exists; resolves with the ms waited, or rejects after `timeoutMs`. */
export async function waitForFile(path: string, timeoutMs: number, pollMs = 5): Promise<number> {
  const started = performance.now();
  for (;;) {
    try {
      await Deno.stat(path);
      return performance.now() - started;
    } catch {
      if (performance.now() - started > timeoutMs) {
        throw new Error(`${path} did not appear within ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }
}

/**
 * Starts the whole agent (agent/main.ts) on `configPath` with a
 * pact-service-agent token from `journal`; resolves once its shell server
 * listens, with the address it bound.
 */
export async function startShellAgent(
  journal: Pick<JournalProcess, "token">,
  nodeId: string,
  configPath: string,
): Promise<{ readonly agent: BootAgentProcess; readonly address: string }> {
  const env = {
    PACT_AGENT_TOKEN: await journal.token("pact-service-agent", `agent-${nodeId}`, "agent"),
  };
  const agent = BootAgentProcess.start(["--config", configPath], env, "agent");
  const line = await agent.waitForLine(/shell: listening on \S+/);
  return { agent, address: /listening on (\S+)/.exec(line)![1]! };
}
