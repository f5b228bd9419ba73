/**
 * The commands a shell session's PATH links to (reference §2.11): the
 * default exec whitelist, plus the vCluster's `shell_whitelist`, never a
 * known shell-escape binary. Links point at the binaries found in the
 * system directories; a command missing on the node is simply left out.
 * (Local list: there is no shared exec whitelist module yet.)
 */

/** The default whitelist (38 commands, state-changing ones included). */
export const DEFAULT_SHELL_COMMANDS: readonly string[] = [
  "nvidia-smi",
  "rocm-smi",
  "dmesg",
  "lspci",
  "lsmod",
  "lsblk",
  "lscpu",
  "uname",
  "hostname",
  "uptime",
  "free",
  "df",
  "echo",
  "ps",
  "top",
  "htop",
  "ss",
  "ping",
  "traceroute",
  "ethtool",
  "cat",
  "head",
  "tail",
  "wc",
  "ls",
  "stat",
  "file",
  "md5sum",
  "sha256sum",
  "diff",
  "grep",
  "journalctl",
  "mount",
  "ip",
  "sysctl",
  "systemctl",
  "modprobe",
  "umount",
];

/** Binaries that open a shell or run arbitrary code: never linked. */
export const SHELL_ESCAPE_BINARIES: ReadonlySet<string> = new Set([
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
]);

/** Where the linked binaries are looked up, in order. */
export const SYSTEM_BIN_DIRS: readonly string[] = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];

/** The PATH of a platform admin's session after the session bin (reference: a broader PATH). */
export const ADMIN_EXTRA_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";

/**
 * The commands of a session: the default list and `extra` (the vCluster's
 * shell_whitelist), without shell-escape binaries or names with a slash.
 * Returns the commands and the refused extras.
 */
export function shellCommands(
  extra: readonly string[],
): { commands: string[]; refused: string[] } {
  const refused: string[] = [];
  const commands = new Set(DEFAULT_SHELL_COMMANDS);
  for (const name of extra) {
    if (SHELL_ESCAPE_BINARIES.has(name) || !/^[A-Za-z0-9._+-]+$/.test(name) || name === "..") {
      refused.push(name);
    } else commands.add(name);
  }
  return { commands: [...commands], refused };
}

/** Creates one symlink per command found in `dirs`; returns the linked commands. */
export async function linkCommands(
  binDir: string,
  commands: readonly string[],
  dirs: readonly string[] = SYSTEM_BIN_DIRS,
): Promise<string[]> {
  const linked: string[] = [];
  for (const command of commands) {
    for (const dir of dirs) {
      const target = `${dir}/${command}`;
      try {
        const info = await Deno.stat(target);
        if (!info.isFile) continue;
      } catch {
        continue;
      }
      await Deno.symlink(target, `${binDir}/${command}`);
      linked.push(command);
      break;
    }
  }
  return linked;
}
