/**
 * The commands a shell session's PATH links to (reference §2.11): the
 * default exec whitelist, plus the vCluster's `shell_whitelist`, never a
 * known shell-escape binary or command runner (the exec whitelist's rules,
 * agent/shell/exec/whitelist.ts). Links point at the binaries found in the
 * system directories; a command missing on the node is simply left out, and
 * so is one whose real file is a shell or interpreter.
 */
import { isNeverAllowed, Whitelist } from "../exec/whitelist.ts";

/** Where the linked binaries are looked up, in order. */
export const SYSTEM_BIN_DIRS: readonly string[] = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];

/** The PATH of a platform admin's session after the session bin (reference: a broader PATH). */
export const ADMIN_EXTRA_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";

/**
 * The commands of a session: the default list and `extra` (the vCluster's
 * shell_whitelist), without shell escapes, command runners or bad names.
 * Returns the commands and the refused extras.
 */
export function shellCommands(
  extra: readonly string[],
): { commands: string[]; refused: string[] } {
  const whitelist = Whitelist.of(extra);
  return { commands: whitelist.list().map((c) => c.command), refused: [...whitelist.ignored] };
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
        // `ls` linking to busybox, or a whitelisted name that is really a shell.
        const real = await Deno.realPath(target);
        if (isNeverAllowed(real.slice(real.lastIndexOf("/") + 1))) break;
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
