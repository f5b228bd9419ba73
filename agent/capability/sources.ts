/**
 * Where hardware detection reads from: files below a root (`/` on a real
 * node, a fixture tree or sandbox directory in tests), vendor tools run with
 * a time limit, and statvfs through `stat -f` killed when it hangs (a stale
 * NFS server must not stall the report). Every path a detector asks for is a
 * node path (`/proc/cpuinfo`); the root is prefixed here only.
 */

/** What a finished (or killed) tool run gave. */
export interface ToolResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** The tool is not installed: the category reports nothing (e.g. no GPUs). */
  readonly missing: boolean;
  readonly timedOut: boolean;
}

/** The vendor tools detection runs. */
export type ToolName = "nvidia-smi" | "rocm-smi" | "dmidecode";

/** Capacity of a mounted filesystem, in bytes. */
export interface FsCapacity {
  readonly totalBytes: number;
  readonly availableBytes: number;
}

/** The detection port. */
export interface DetectSources {
  /** The file's text, or undefined when it is missing or unreadable. */
  readText(path: string): Promise<string | undefined>;
  /** Entry names of a directory (sorted), or undefined when it is missing or unreadable. */
  listDir(path: string): Promise<string[] | undefined>;
  /** The target of a symbolic link, or undefined when it is none. */
  readLink(path: string): Promise<string | undefined>;
  run(tool: ToolName, args: readonly string[], timeoutMs: number): Promise<ToolResult>;
  /** statvfs of a mount point; undefined when it failed or took longer than `timeoutMs`. */
  statfs(path: string, timeoutMs: number): Promise<FsCapacity | undefined>;
  /** Primary IPv4 address by interface name, where cheaply known. */
  ipv4(): Promise<ReadonlyMap<string, string>>;
}

/** How to build rooted sources. */
export interface RootedSourcesOptions {
  /** `/` on a real node, else a directory holding proc/, sys/, ... */
  readonly root: string;
  /** Executable of each tool; a tool left out counts as not installed. */
  readonly tools: Partial<Record<ToolName, string>>;
  /** Executable of `stat` (coreutils) for statvfs; default `stat`. */
  readonly stat?: string | undefined;
  readonly ipv4?: (() => Promise<ReadonlyMap<string, string>>) | undefined;
}

/** Sources reading below `root` and running the named tools. */
export function rootedSources(options: RootedSourcesOptions): DetectSources {
  const prefix = options.root.replace(/\/+$/, "");
  const real = (path: string) => `${prefix}${path}`;
  return {
    readText: (path) => Deno.readTextFile(real(path)).catch(() => undefined),
    listDir: async (path) => {
      try {
        const names: string[] = [];
        for await (const entry of Deno.readDir(real(path))) names.push(entry.name);
        return names.sort();
      } catch {
        return undefined;
      }
    },
    readLink: (path) => Deno.readLink(real(path)).catch(() => undefined),
    run: (tool, args, timeoutMs) => {
      const executable = options.tools[tool];
      if (executable === undefined) return Promise.resolve(MISSING);
      return runTool(executable, args, timeoutMs);
    },
    statfs: async (path, timeoutMs) => {
      // %S: fundamental block size, %b: blocks, %a: blocks free to non-root users.
      const result = await runTool(
        options.stat ?? "stat",
        ["-f", "-c", "%S %b %a", "--", real(path)],
        timeoutMs,
      );
      if (result.code !== 0 || result.timedOut) return undefined;
      const [size, blocks, available] = result.stdout.trim().split(/\s+/).map(Number);
      if (![size, blocks, available].every((n) => Number.isFinite(n))) return undefined;
      return { totalBytes: size! * blocks!, availableBytes: size! * available! };
    },
    ipv4: options.ipv4 ?? (() => Promise.resolve(new Map())),
  };
}

const MISSING: ToolResult = { code: 127, stdout: "", stderr: "", missing: true, timedOut: false };

/** Most output a tool may give before it is cut off. */
const TOOL_OUTPUT_BYTES_MAX = 4 * 1024 * 1024;

/** Runs a tool to completion, killing it (SIGKILL) after `timeoutMs`. */
export async function runTool(
  executable: string,
  args: readonly string[],
  timeoutMs: number,
): Promise<ToolResult> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(executable, {
      args: [...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { LANG: "C", LC_ALL: "C", PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    }).spawn();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.PermissionDenied) {
      return MISSING;
    }
    throw err;
  }
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let grace: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => {
      timedOut = true;
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      // A process stuck in the kernel (a hard NFS mount) may outlive SIGKILL: wait no longer.
      grace = setTimeout(() => resolve(undefined), 200);
    }, timeoutMs);
  });
  const finished = child.output();
  try {
    const output = await Promise.race([finished, expired]);
    if (output === undefined) {
      finished.catch(() => {});
      return { code: 124, stdout: "", stderr: "", missing: false, timedOut: true };
    }
    const decoder = new TextDecoder();
    return {
      code: timedOut ? 124 : output.code,
      stdout: decoder.decode(output.stdout.subarray(0, TOOL_OUTPUT_BYTES_MAX)),
      stderr: decoder.decode(output.stderr.subarray(0, 64 * 1024)),
      missing: false,
      timedOut,
    };
  } finally {
    clearTimeout(timer);
    clearTimeout(grace);
  }
}
