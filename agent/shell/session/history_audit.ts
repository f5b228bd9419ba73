/**
 * Every command of a shell session, from the shell's own history file.
 * rbash refuses output redirection even in PROMPT_COMMAND, so the prompt
 * command is `history -a` (HISTFILE, PROMPT_COMMAND and the HIST* settings
 * are readonly in the session; HISTFILE is relative to the session
 * directory, the shell's working directory, as rbash refuses a file name
 * with a slash there) and the agent reads the new lines: each one
 * becomes a `PACT_AUDIT session=<sid> user=<principal> cmd=<line>` line of
 * the session's audit.log and a journal entry.
 */

/** The principal as it appears in audit lines: alphanumerics and `@ . - _` only. */
export function sanitizePrincipal(principal: string): string {
  return principal.replace(/[^A-Za-z0-9@._-]/g, "_");
}

/** A command line on one line: control characters become spaces. */
function oneLine(command: string): string {
  // deno-lint-ignore no-control-regex
  return command.replace(/[\x00-\x1f\x7f]/g, " ");
}

/** Options of a HistoryAudit. */
export interface HistoryAuditOptions {
  readonly historyPath: string;
  readonly auditPath: string;
  readonly sessionId: string;
  readonly principal: string;
  /** Called once per new command, in order. */
  readonly onCommand: (command: string) => void;
}

/** Reads the new lines of a session's history file. */
export class HistoryAudit {
  readonly #options: HistoryAuditOptions;
  #offset = 0;
  #partial = "";
  #scanning: Promise<void> = Promise.resolve();
  #pending = false;
  /** Commands seen so far. */
  count = 0;

  constructor(options: HistoryAuditOptions) {
    this.#options = options;
  }

  /**
   * Reads what was appended since the last scan (scans never overlap).
   * `final`: the shell has exited, so a last line without newline counts.
   */
  scan(final = false): Promise<void> {
    if (this.#pending && !final) return this.#scanning;
    this.#pending = true;
    this.#scanning = this.#scanning.then(async () => {
      this.#pending = false;
      await this.#scanOnce(final);
    });
    return this.#scanning;
  }

  async #scanOnce(final: boolean): Promise<void> {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(this.#options.historyPath);
    } catch {
      return; // Not written yet.
    }
    // `history -w` may rewrite the file shorter: start over from its top.
    if (bytes.length < this.#offset) {
      this.#offset = 0;
      this.#partial = "";
    }
    const text = this.#partial + new TextDecoder().decode(bytes.subarray(this.#offset));
    this.#offset = bytes.length;
    const lines = text.split("\n");
    this.#partial = lines.pop() ?? "";
    if (final && this.#partial !== "") {
      lines.push(this.#partial);
      this.#partial = "";
    }
    const commands = lines.filter((line) => line.trim() !== "" && !/^#\d+$/.test(line));
    if (commands.length === 0) return;
    const { sessionId, principal } = this.#options;
    const user = sanitizePrincipal(principal);
    const audit = commands.map((command) =>
      `PACT_AUDIT session=${sessionId} user=${user} cmd=${oneLine(command)}\n`
    ).join("");
    await Deno.writeTextFile(this.#options.auditPath, audit, { append: true, mode: 0o600 });
    for (const command of commands) {
      this.count++;
      this.#options.onCommand(oneLine(command));
    }
  }
}
