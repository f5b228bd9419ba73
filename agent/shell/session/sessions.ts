/**
 * Interactive shell sessions (reference §2.11): `/bin/rbash` on a PTY with
 * a scrubbed environment whose PATH is a per-session directory of links to
 * whitelisted binaries only. Sessions go Initializing → Active → Closing →
 * Closed; at most `sessionsMax` (10) run at once. Each one is recorded as
 * asciicast v2, each command is written to its audit.log and journaled,
 * and its start and end are journaled (SHELL_SESSION entries).
 */
import type { Principal } from "../../../shared/auth/principal.ts";
import { PactError } from "../../../shared/errors/mod.ts";
import { EntryType } from "../../../shared/proto/gen/pact/config/config.ts";
import { agentEntry } from "../../drift/drift_entries.ts";
import type { EntrySink } from "../../node_agent.ts";
import { mayAccess } from "../authorize.ts";
import { clampDimension, Pty } from "../pty/pty.ts";
import { HistoryAudit, sanitizePrincipal } from "./history_audit.ts";
import { AsciicastRecorder } from "./recording.ts";
import { ADMIN_EXTRA_PATH, linkCommands, shellCommands } from "./whitelist.ts";

/** Sessions open at once at most (Impl: 10). */
export const SHELL_SESSIONS_MAX = 10;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export type SessionState = "initializing" | "active" | "closing" | "closed";

/** What the sessions run over. */
export interface ShellSessionsOptions {
  readonly node: { readonly nodeId: string; readonly vcluster: string | undefined };
  /** Session directories: `<runDir>/<sid>/bin`, `audit.log`... (e.g. /run/pact/shell). */
  readonly runDir: string;
  /** Where `<sid>.cast` recordings are kept (e.g. /var/lib/pact/shell/recordings). */
  readonly recordingsDir: string;
  /** The vCluster's `shell_whitelist` additions, read at each open. */
  readonly extraCommands?: () => readonly string[];
  /** Default /bin/rbash. */
  readonly shellPath?: string;
  readonly journal: EntrySink | undefined;
  readonly log: (line: string) => void;
  readonly sessionsMax?: number;
  readonly recordingBytesMax?: number;
  /**
   * `[agent.shell] whitelist_mode = "learning"`: a command the shell did not
   * find is captured (audit.log `PACT_LEARN` line, agent log with a
   * suggestion to add it to the vCluster's shell_whitelist).
   */
  readonly learning?: boolean;
}

/** The Open message of a session. */
export interface OpenRequest {
  readonly rows: number;
  readonly cols: number;
  readonly term: string;
}

/** Throws PERMISSION_DENIED unless the principal may open shells on the node. */
export function requireShellAccess(
  principal: Principal,
  node: { readonly nodeId: string; readonly vcluster: string | undefined },
  what = "Shell",
): void {
  // Ops of the node's vCluster or platform admin: the "control" level; viewers never.
  if (mayAccess(principal, node.vcluster, "control")) return;
  const needs = node.vcluster === undefined
    ? "the node has no vCluster, so only pact-platform-admin may"
    : `needs pact-platform-admin or pact-ops-${node.vcluster}`;
  throw new PactError(
    "PERMISSION_DENIED",
    `${what} on node ${node.nodeId} refused for ${principal.principal} (role ${principal.role}): Shell requires higher privilege than exec: ${needs}`,
  );
}

/** The shell sessions of one node. */
export class ShellSessions {
  readonly #options: ShellSessionsOptions;
  readonly #sessions = new Map<string, ShellSession>();

  constructor(options: ShellSessionsOptions) {
    this.#options = options;
  }

  /** Sessions not yet closed. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Opens a session; `onOutput` receives the terminal's output. */
  async open(
    principal: Principal,
    request: OpenRequest,
    onOutput: (data: Uint8Array) => void,
  ): Promise<ShellSession> {
    const { node, log } = this.#options;
    requireShellAccess(principal, node);
    const max = this.#options.sessionsMax ?? SHELL_SESSIONS_MAX;
    if (this.#sessions.size >= max) {
      throw new PactError(
        "RESOURCE_EXHAUSTED",
        `Node ${node.nodeId} already has ${this.#sessions.size} shell sessions (at most ${max}): try again when one ends`,
      );
    }
    const session = new ShellSession(crypto.randomUUID(), principal, this.#options);
    this.#sessions.set(session.id, session); // Counted from now on, while it starts.
    session.closed.then(() => this.#sessions.delete(session.id));
    try {
      await session.start(request, onOutput);
    } catch (err) {
      this.#sessions.delete(session.id);
      log(`shell: session ${session.id} could not start: ${(err as Error).message}`);
      throw err;
    }
    return session;
  }

  /** The path of a session's recording, for a principal allowed to read it. */
  async recordingPath(principal: Principal, sessionId: string): Promise<string> {
    const { node, recordingsDir } = this.#options;
    requireShellAccess(principal, node, "Shell recording");
    if (!UUID.test(sessionId)) {
      throw new PactError(
        "INVALID_ARGUMENT",
        `Invalid session id ${JSON.stringify(sessionId)}: expected a UUID (pact shell prints it)`,
      );
    }
    const path = `${recordingsDir}/${sessionId}.cast`;
    try {
      await Deno.stat(path);
    } catch {
      throw new PactError(
        "NOT_FOUND",
        `No recording of session ${sessionId} on node ${node.nodeId}`,
      );
    }
    return path;
  }

  /** Hangs up every session (agent shutdown). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.#sessions.values()].map((s) => s.close()));
  }
}

/** One interactive session. */
export class ShellSession {
  readonly id: string;
  readonly principal: Principal;
  #state: SessionState = "initializing";
  #pty: Pty | undefined;
  #recorder: AsciicastRecorder | undefined;
  #audit: HistoryAudit | undefined;
  #journaling: Promise<unknown> = Promise.resolve();
  readonly #options: ShellSessionsOptions;
  readonly #startedMs = performance.now();
  readonly #dir: string;
  #resolveClosed!: (code: number) => void;
  /** Resolves with the shell's exit code once everything is cleaned up. */
  readonly closed: Promise<number>;

  constructor(id: string, principal: Principal, options: ShellSessionsOptions) {
    this.id = id;
    this.principal = principal;
    this.#options = options;
    this.#dir = `${options.runDir}/${id}`;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  get state(): SessionState {
    return this.#state;
  }

  /** Prepares the session directory and recording, starts rbash. */
  async start(request: OpenRequest, onOutput: (data: Uint8Array) => void): Promise<void> {
    const { recordingsDir, node, log } = this.#options;
    const rows = clampDimension(request.rows, 24);
    const cols = clampDimension(request.cols, 80);
    const term = /^[A-Za-z0-9._+-]{1,64}$/.test(request.term) ? request.term : "xterm";
    const bin = `${this.#dir}/bin`;
    await Deno.mkdir(bin, { recursive: true, mode: 0o755 });
    const { commands, refused } = shellCommands(this.#options.extraCommands?.() ?? []);
    if (refused.length > 0) {
      log(
        `shell: shell_whitelist entries refused (shell escapes or bad names): ${
          refused.join(", ")
        }`,
      );
    }
    await linkCommands(bin, commands);
    const historyPath = `${this.#dir}/history`;
    const rcPath = `${this.#dir}/rc`;
    await Deno.writeTextFile(historyPath, "", { mode: 0o600 });
    await Deno.writeTextFile(rcPath, rcFile(node.nodeId), { mode: 0o444 });
    await Deno.mkdir(recordingsDir, { recursive: true, mode: 0o700 });
    const title = `pact shell ${node.nodeId} session ${this.id} by ${this.principal.principal}`;
    this.#recorder = await AsciicastRecorder.create({
      path: `${recordingsDir}/${this.id}.cast`,
      cols,
      rows,
      term,
      title,
      ...(this.#options.recordingBytesMax === undefined
        ? {}
        : { bytesMax: this.#options.recordingBytesMax }),
    });
    this.#audit = new HistoryAudit({
      historyPath,
      auditPath: `${this.#dir}/audit.log`,
      sessionId: this.id,
      principal: this.principal.principal,
      onCommand: (command) => this.#journal("command", command),
    });
    const admin = mayAccess(this.principal, undefined, "control"); // Only platform admins.
    try {
      this.#pty = Pty.spawn({
        path: this.#options.shellPath ?? "/bin/rbash",
        argv: ["rbash", "--noprofile", "--rcfile", rcPath, "-i"],
        env: {
          PATH: admin ? `${bin}:${ADMIN_EXTRA_PATH}` : bin,
          HOME: "/tmp",
          TERM: term,
          LANG: "C.UTF-8",
          SHELL: "/bin/rbash",
          BASH_ENV: "",
          ENV: "",
          // Relative: rbash refuses `history -a` on a file name with a slash.
          HISTFILE: "history",
          PROMPT_COMMAND: "history -a",
        },
        cwd: this.#dir, // rbash cannot cd away from it.
        rows,
        cols,
      });
    } catch (err) {
      await this.#recorder.close();
      await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
      throw err;
    }
    this.#state = "active";
    log(
      `shell: session ${this.id} opened by ${this.principal.principal} (pid ${this.#pty.pid}, ${cols}x${rows})`,
    );
    this.#journal("start", "");
    void this.#pump(this.#pty, onOutput);
  }

  /** Keystrokes from the client. */
  async input(data: Uint8Array): Promise<void> {
    if (this.#state === "active") await this.#pty?.write(data);
  }

  /** A new window size (clamped to 1..500). */
  resize(rows: number, cols: number): void {
    if (this.#state !== "active" || !this.#pty) return;
    const r = clampDimension(rows, 24);
    const c = clampDimension(cols, 80);
    this.#pty.resize(r, c);
    this.#recorder?.resize(c, r);
  }

  /** Hangs the session up (client closed or went away); resolves once closed. */
  async close(): Promise<number> {
    if (this.#state === "active") {
      this.#state = "closing";
      await this.#pty?.close();
    }
    return await this.closed;
  }

  async #pump(pty: Pty, onOutput: (data: Uint8Array) => void): Promise<void> {
    for await (const chunk of pty.output) {
      this.#recorder?.output(chunk);
      onOutput(chunk);
      if (this.#options.learning) await this.#learn(chunk);
      // PROMPT_COMMAND has just run `history -a` when a prompt shows up.
      void this.#audit?.scan();
    }
    const code = await pty.exited;
    this.#state = "closing";
    await this.#audit?.scan(true);
    const sha = (await this.#recorder?.close()) ?? "";
    this.#journal("end", "", { exitCode: code, sha });
    await this.#journaling;
    await Deno.remove(`${this.#dir}/bin`, { recursive: true }).catch(() => {});
    await Deno.remove(`${this.#dir}/rc`).catch(() => {});
    this.#state = "closed";
    this.#options.log(
      `shell: session ${this.id} of ${this.principal.principal} closed: exit ${code}, ${
        this.#audit?.count ?? 0
      } commands`,
    );
    this.#resolveClosed(code);
  }

  /** Captures `rbash: <name>: command not found` (learning mode). */
  async #learn(chunk: Uint8Array): Promise<void> {
    const text = new TextDecoder().decode(chunk);
    const { node, log } = this.#options;
    const user = sanitizePrincipal(this.principal.principal);
    for (const [, name] of text.matchAll(/rbash: ([A-Za-z0-9._+-]{1,255}): command not found/g)) {
      const scope = node.vcluster === undefined ? "the node's" : `vCluster ${node.vcluster}'s`;
      log(
        `shell: learning: session ${this.id}: ${this.principal.principal} ran ${name}, which is not whitelisted; to allow it, add it to ${scope} shell_whitelist`,
      );
      await Deno.writeTextFile(
        `${this.#dir}/audit.log`,
        `PACT_LEARN session=${this.id} user=${user} cmd=${name}\n`,
        { append: true, mode: 0o600 },
      ).catch(() => {});
    }
  }

  /** Journals in order (start, commands, end) without holding the terminal up. */
  #journal(
    action: "start" | "command" | "end",
    command: string,
    end?: { exitCode: number; sha: string },
  ): void {
    const { journal, node, log } = this.#options;
    const who = this.principal.principal;
    const message = action === "command"
      ? `shell ${this.id}: ${who}: ${command}`
      : action === "start"
      ? `shell session ${this.id} started by ${who}`
      : `shell session ${this.id} of ${who} ended (exit ${end?.exitCode})`;
    if (!journal) {
      log(`shell: no journal configured: ${message}`);
      return;
    }
    const durationMs = Math.round(performance.now() - this.#startedMs);
    const entry = {
      ...agentEntry({
        nodeId: node.nodeId,
        type: EntryType.SHELL_SESSION,
        message,
        metadata: {
          action,
          session_id: this.id,
          principal: who,
          user: sanitizePrincipal(who),
          ...(action === "command" ? { command } : {}),
          ...(end ? { exit_code: String(end.exitCode) } : {}),
        },
      }),
      payload: {
        $case: "shellSession" as const,
        value: {
          sessionId: this.id,
          action,
          command,
          commandsExecuted: this.#audit?.count ?? 0,
          recordingSha256: end?.sha ?? "",
          durationMs: action === "end" ? durationMs : 0,
        },
      },
    };
    this.#journaling = this.#journaling.then(() => journal.append(entry)).catch((err) =>
      log(`shell: session ${this.id}: ${action} not journaled: ${(err as Error).message}`)
    );
  }
}

/**
 * The session's rcfile, read before the restrictions apply: the prompt,
 * and the history settings the audit relies on made readonly.
 */
function rcFile(nodeId: string): string {
  const safeNode = nodeId.replace(/[^A-Za-z0-9._-]/g, "_");
  return [
    `PS1='pact:${safeNode}> '`,
    "shopt -s histappend",
    "shopt -u histverify histreedit",
    "HISTCONTROL=",
    "HISTIGNORE=",
    "HISTSIZE=10000",
    "HISTFILESIZE=-1",
    "unset HISTTIMEFORMAT",
    "readonly PROMPT_COMMAND HISTFILE HISTCONTROL HISTIGNORE HISTSIZE HISTFILESIZE HISTTIMEFORMAT",
    "readonly PATH SHELL ENV BASH_ENV",
    "",
  ].join("\n");
}
