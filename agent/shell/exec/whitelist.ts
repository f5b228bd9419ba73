/**
 * The commands `pact exec` may run (reference §2.11, S1/S2): 38 defaults,
 * each read-only or state-changing, plus the node's vCluster additions
 * from its policy's `exec_whitelist` (read-only unless they are defaults).
 *
 * Never runnable, whoever asks and whatever the mode or policy says:
 * the reference's shell-escape binaries (vi, vim, less, more, man, python,
 * python3, perl, ruby, lua, node, bash, sh, zsh, find, xargs, awk, nawk,
 * gawk) and the other shells, interpreters and command runners below
 * (env, sudo, busybox, nsenter...). Each of them runs a command the audit
 * record does not name: `pact exec n -- bash -c "..."` would journal
 * `bash`, not what ran. A platform admin who needs an interpreter uses
 * `pact shell` (every command of the session is audited) or the BMC
 * console. This also holds for the platform admin's bypass (S2).
 */

/** How the agent treats commands outside the whitelist (`[agent.shell] whitelist_mode`). */
export type WhitelistMode = "strict" | "learning" | "bypass";

/** One runnable command as ListCommands reports it. */
export interface WhitelistedCommand {
  readonly command: string;
  /** Running it may change the node: needs ops or platform admin, opens a commit window. */
  readonly stateChanging: boolean;
  readonly description: string;
}

function entry(command: string, description: string, stateChanging = false): WhitelistedCommand {
  return { command, stateChanging, description };
}

/** The reference's 38 default commands (32 read-only, 6 state-changing). */
export const DEFAULT_COMMANDS: readonly WhitelistedCommand[] = [
  // Diagnostics.
  entry("nvidia-smi", "NVIDIA GPU state"),
  entry("rocm-smi", "AMD GPU state"),
  entry("dmesg", "Kernel ring buffer"),
  entry("lspci", "PCI devices"),
  entry("lsmod", "Loaded kernel modules"),
  entry("lsblk", "Block devices"),
  entry("lscpu", "CPU architecture"),
  entry("uname", "Kernel name and version"),
  entry("hostname", "Host name"),
  entry("uptime", "Time since boot and load"),
  entry("free", "Memory usage"),
  entry("df", "File system usage"),
  entry("echo", "Print its arguments"),
  // Processes.
  entry("ps", "Processes"),
  entry("top", "Processes by resource use (use -b -n 1)"),
  entry("htop", "Processes by resource use"),
  // Network.
  entry("ss", "Sockets"),
  entry("ping", "Reachability of a host"),
  entry("traceroute", "Route to a host"),
  entry("ethtool", "Network interface settings and statistics"),
  // Files.
  entry("cat", "Print files"),
  entry("head", "First lines of files"),
  entry("tail", "Last lines of files"),
  entry("wc", "Count lines, words and bytes"),
  entry("ls", "List directories"),
  entry("stat", "File metadata"),
  entry("file", "File types"),
  entry("md5sum", "MD5 checksums"),
  entry("sha256sum", "SHA-256 checksums"),
  entry("diff", "Compare files"),
  entry("grep", "Search files"),
  // Logs.
  entry("journalctl", "systemd journal"),
  // State-changing.
  entry("mount", "Mount file systems (lists them without arguments)", true),
  entry("ip", "Network interfaces, addresses and routes", true),
  entry("sysctl", "Kernel parameters", true),
  entry("systemctl", "systemd units", true),
  entry("modprobe", "Load and unload kernel modules", true),
  entry("umount", "Unmount file systems", true),
];

/** The reference's shell-escape binaries: never runnable through exec. */
export const SHELL_ESCAPES: readonly string[] = [
  "vi",
  "vim",
  "less",
  "more",
  "man",
  "python",
  "python3",
  "perl",
  "ruby",
  "lua",
  "node",
  "bash",
  "sh",
  "zsh",
  "find",
  "xargs",
  "awk",
  "nawk",
  "gawk",
];

/** Other shells, interpreters and programs that run a command they are given. */
export const COMMAND_RUNNERS: readonly string[] = [
  "rbash",
  "dash",
  "ksh",
  "mksh",
  "csh",
  "tcsh",
  "fish",
  "ash",
  "busybox",
  "env",
  "sudo",
  "su",
  "doas",
  "nice",
  "ionice",
  "nohup",
  "timeout",
  "setsid",
  "stdbuf",
  "taskset",
  "chrt",
  "chroot",
  "nsenter",
  "unshare",
  "strace",
  "ltrace",
  "gdb",
  "script",
  "expect",
  "tclsh",
  "php",
  "irb",
  "deno",
  "bun",
  "nvim",
  "view",
  "ed",
  "emacs",
  "nano",
  "watch",
  "flock",
  "ssh",
  "sed",
];

const NEVER = new Set<string>([...SHELL_ESCAPES, ...COMMAND_RUNNERS]);

/**
 * True for a binary exec never runs: a name above, or a versioned
 * interpreter or shell such as `python3.12`, `perl5.36`, `vim.basic` or
 * `mawk` (the real file behind a `python3`, `vi` or `awk` link).
 */
export function isNeverAllowed(name: string): boolean {
  if (NEVER.has(name)) return true;
  return /^(python|perl|ruby|lua|node|php|vim?|nvim|tclsh|wish|[a-z]*awk|[a-z]*sh)([0-9.]*|\.[a-z]+)$/
    .test(name) &&
    !DEFAULT_NAMES.has(name);
}

const DEFAULT_NAMES = new Set(DEFAULT_COMMANDS.map((c) => c.command));

/** One computed whitelist: the commands and the additions that were dropped. */
interface Computed {
  readonly additions: readonly string[];
  readonly commands: ReadonlyMap<string, WhitelistedCommand>;
  readonly ignored: readonly string[];
}

/**
 * The runnable commands of one node: defaults plus its vCluster's
 * additions, fixed (`of`) or read from the current policy on every lookup
 * (`live`).
 */
export class Whitelist {
  readonly #additions: () => readonly string[];
  readonly #onChange: ((whitelist: Whitelist) => void) | undefined;
  #computed: Computed | undefined;

  private constructor(
    additions: () => readonly string[],
    onChange: ((whitelist: Whitelist) => void) | undefined,
  ) {
    this.#additions = additions;
    this.#onChange = onChange;
  }

  /**
   * The defaults plus `additions` (a vCluster policy's `exec_whitelist`).
   * An addition that is a default keeps the default's classification; a
   * new one is read-only; a never-allowed binary or a name that is not a
   * plain command name is ignored.
   */
  static of(additions: readonly string[] = []): Whitelist {
    return new Whitelist(() => additions, undefined);
  }

  /**
   * The defaults plus whatever `additions()` returns at each lookup (the
   * node's current policy, agent/policy), recomputed when it returns a
   * different list; `onChange` hears of each recomputation after the first.
   */
  static live(
    additions: () => readonly string[],
    onChange?: (whitelist: Whitelist) => void,
  ): Whitelist {
    return new Whitelist(additions, onChange);
  }

  /** Policy additions that were dropped (shell escapes, invalid names), for the log. */
  get ignored(): readonly string[] {
    return this.#current().ignored;
  }

  /** The command named `name`, or undefined when it is not whitelisted. */
  get(name: string): WhitelistedCommand | undefined {
    return this.#current().commands.get(name);
  }

  /** Every command, sorted by name. */
  list(): WhitelistedCommand[] {
    return [...this.#current().commands.values()].sort((a, b) =>
      a.command.localeCompare(b.command)
    );
  }

  #current(): Computed {
    const additions = this.#additions();
    const previous = this.#computed;
    if (previous !== undefined && sameList(previous.additions, additions)) return previous;
    this.#computed = compute(additions);
    if (previous !== undefined) this.#onChange?.(this);
    return this.#computed;
  }
}

function compute(additions: readonly string[]): Computed {
  const commands = new Map(DEFAULT_COMMANDS.map((c) => [c.command, c]));
  const ignored: string[] = [];
  for (const raw of additions) {
    const name = raw.trim();
    if (commands.has(name)) continue;
    if (!isCommandName(name) || isNeverAllowed(name)) {
      ignored.push(raw);
      continue;
    }
    commands.set(name, entry(name, "Added by the vCluster policy (exec_whitelist)"));
  }
  return { additions: [...additions], commands, ignored };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a === b || (a.length === b.length && a.every((value, i) => value === b[i]));
}

/** A plain command name: letters, digits, `.`, `_`, `+`, `-`, not starting with `.` or `-`. */
export function isCommandName(name: string): boolean {
  return name.length <= 255 && /^[A-Za-z0-9_][A-Za-z0-9._+-]*$/.test(name);
}
