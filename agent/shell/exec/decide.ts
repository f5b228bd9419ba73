/**
 * Whether `pact exec` runs a command, and which binary (reference §2.11,
 * S1/S2). The command is a bare name looked up on the exec PATH
 * (`/usr/sbin:/usr/bin:/sbin:/bin`: the reference's `/usr/bin:/bin` plus
 * the sbin directories, where ip, sysctl and modprobe live), or an absolute path whose real path (links followed)
 * is the real path of that same name's lookup; either way the binary run
 * is the PATH entry, so multi-call binaries still see their name in
 * argv[0]. A whitelisted name runs for the roles authorize.ts allows. A
 * name that is not whitelisted runs only for a platform admin (S2, in
 * every whitelist mode; journaled with decision `bypass`), and never when
 * it or its real file is a shell escape or command runner (whitelist.ts).
 * The decision reads the file system through a small port only, so that
 * it is tested (and fuzzed) over temporary directories.
 */
import { PactError } from "../../../shared/errors/mod.ts";
import { checkArguments, METACHARACTERS, type RealPath } from "./arguments.ts";
import { isStateChanging } from "./classify.ts";
import { isCommandName, isNeverAllowed, type Whitelist } from "./whitelist.ts";

/** Where commands are looked up (never /usr/local, nor anything writable by users). */
export const EXEC_PATH: readonly string[] = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/** What the decision reads from the file system. */
export interface ExecFs {
  /** The real path of `path` (every link followed); undefined when it does not exist. */
  readonly realPath: RealPath;
  /** True when `path` (links followed) is a regular file someone may execute. */
  isExecutable(path: string): boolean;
}

/** The real file system, read synchronously (a few stat calls per exec). */
export const REAL_FS: ExecFs = {
  realPath: (path) => {
    try {
      return Deno.realPathSync(path);
    } catch {
      return undefined;
    }
  },
  isExecutable: (path) => {
    try {
      const info = Deno.statSync(path);
      return info.isFile && ((info.mode ?? 0) & 0o111) !== 0;
    } catch {
      return false;
    }
  },
};

/** A command exec may run. */
export interface ExecDecision {
  /** The command's name (the whitelisted one, or the bypassed one). */
  readonly command: string;
  /** The PATH entry to run, e.g. `/usr/bin/cat`. */
  readonly binary: string;
  /** Its real path. */
  readonly realBinary: string;
  /** `whitelisted`, or `bypass` (a platform admin ran a name outside the whitelist). */
  readonly decision: "whitelisted" | "bypass";
  readonly stateChanging: boolean;
}

/** What a decision depends on besides the request. */
export interface DecideOptions {
  readonly whitelist: Whitelist;
  readonly platformAdmin: boolean;
  readonly fs: ExecFs;
  readonly path?: readonly string[];
}

/**
 * A refusal: PactError NOT_WHITELISTED (CLI exit 6), or NOT_FOUND (exit 1)
 * when the binary is missing, with the refused name for the journal.
 */
export class ExecRefused extends PactError {
  /** The name as asked: the basename of a path, or the raw text. */
  readonly command: string;
  /** A plain name outside the whitelist: learning mode records it as a suggestion. */
  readonly suggestable: boolean;

  constructor(
    command: string,
    reason: string,
    options: { code?: "NOT_WHITELISTED" | "NOT_FOUND"; suggestable?: boolean } = {},
  ) {
    super(options.code ?? "NOT_WHITELISTED", reason);
    this.command = command;
    this.suggestable = options.suggestable ?? false;
  }
}

/** The binary and classification of `command args`, or throws ExecRefused. */
export function decideExec(
  command: string,
  args: readonly string[],
  options: DecideOptions,
): ExecDecision {
  const { name, absolute } = parseCommand(command);
  const refused = (reason: string) => new ExecRefused(name, reason);
  if (isNeverAllowed(name)) {
    throw refused(
      `Command refused: ${name} runs other commands, so exec never runs it (use pact shell)`,
    );
  }
  const listed = options.whitelist.get(name);
  if (!listed && !options.platformAdmin) {
    throw new ExecRefused(name, `Command not whitelisted: ${name} (see pact exec --list <node>)`, {
      suggestable: true,
    });
  }
  const path = options.path ?? EXEC_PATH;
  const found = lookPath(name, path, options.fs);
  if (!found) {
    throw new ExecRefused(
      name,
      `Command not found on the node: ${name} (searched ${path.join(":")})`,
      { code: "NOT_FOUND" },
    );
  }
  if (absolute !== undefined) {
    const real = options.fs.realPath(absolute);
    if (real === undefined || !options.fs.isExecutable(absolute)) {
      throw new ExecRefused(name, `Command not found on the node: ${absolute}`, {
        code: "NOT_FOUND",
      });
    }
    if (real !== found.real) {
      throw refused(
        `Command refused: ${absolute} is not the ${name} on the exec PATH (${found.path})`,
      );
    }
  }
  const realName = found.real.slice(found.real.lastIndexOf("/") + 1);
  if (!listed && isNeverAllowed(realName)) {
    throw refused(`Command refused: ${name} is ${found.real}, which runs other commands`);
  }
  try {
    checkArguments(name, args, options.fs.realPath);
  } catch (err) {
    if (err instanceof PactError) throw refused(err.message);
    throw err;
  }
  return {
    command: name,
    binary: found.path,
    realBinary: found.real,
    decision: listed ? "whitelisted" : "bypass",
    // A command outside the whitelist is unknown: assume it may change the node.
    stateChanging: listed ? isStateChanging(name, args, listed.stateChanging) : true,
  };
}

/** The command's name, and its path when it is absolute; refuses anything else. */
function parseCommand(command: string): { name: string; absolute: string | undefined } {
  const shown = JSON.stringify(command);
  if (command === "") throw new ExecRefused("", "Command refused: no command given");
  const meta = METACHARACTERS.find((m) => command.includes(m));
  if (meta !== undefined || command.includes("%")) {
    throw new ExecRefused(
      command,
      `Command refused: ${shown} contains ${JSON.stringify(meta ?? "%")}`,
    );
  }
  if (!command.includes("/")) {
    if (!isCommandName(command)) {
      throw new ExecRefused(command, `Command refused: ${shown} is not a command name`);
    }
    return { name: command, absolute: undefined };
  }
  const name = command.slice(command.lastIndexOf("/") + 1);
  if (!command.startsWith("/")) {
    throw new ExecRefused(name, `Command refused: ${shown}: give a name or an absolute path`);
  }
  if (command.split("/").some((s) => s === "." || s === "..")) {
    throw new ExecRefused(name, `Command refused: ${shown} contains a "." or ".." segment`);
  }
  if (!isCommandName(name)) {
    throw new ExecRefused(name, `Command refused: ${shown} does not end in a command name`);
  }
  return { name, absolute: command };
}

/** The first executable `name` on `path`, with its real path. */
export function lookPath(
  name: string,
  path: readonly string[],
  fs: ExecFs,
): { path: string; real: string } | undefined {
  for (const dir of path) {
    const candidate = `${dir}/${name}`;
    if (!fs.isExecutable(candidate)) continue;
    const real = fs.realPath(candidate);
    if (real !== undefined) return { path: candidate, real };
  }
  return undefined;
}
