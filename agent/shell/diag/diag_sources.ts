/**
 * Where `pact diag` reads on a node (reference §2.12): the kernel ring
 * buffer, syslog and the services' logs. Each source gives its last lines
 * and whether older ones were left out; a source that does not exist
 * gives undefined (an empty chunk).
 *
 * Paths are read under the host root, so a sandboxed agent reads
 * `<root>/dev/kmsg` (a plain file in kmsg record format) and
 * `<root>/var/log/syslog`, never this machine's. On a real node
 * `/dev/kmsg` is a character device whose reads block at its end, which
 * Deno cannot open non-blocking: the agent runs `dmesg` (5 s timeout),
 * which reads it non-blocking. Sandboxed agents get no command runner, so
 * they never run dmesg or journalctl.
 */
import type { CommandRunner } from "../../host/command_runner.ts";
import { ifExists, Rooted } from "../../host/rooted_host.ts";
import type { RotatingLog } from "../../supervisor/rotating_log.ts";
import { unitName } from "../../supervisor/systemd_unit.ts";

/** The last lines of a source; `cut` when older lines exist that are not here. */
export interface SourceLines {
  readonly lines: string[];
  readonly cut: boolean;
}

/** The sources a node offers; `want` is how many of the last lines to return. */
export interface DiagSources {
  /** Kernel ring buffer, labelled `dmesg`. */
  dmesg(want: number): Promise<SourceLines | undefined>;
  /** System log: its label (`syslog`, `journal`) and lines. */
  syslog(want: number): Promise<(SourceLines & { readonly label: string }) | undefined>;
  /** Names of the services the supervisor knows. */
  serviceNames(): Promise<string[]>;
  /** A service's captured output. */
  serviceLog(name: string, want: number): Promise<SourceLines | undefined>;
}

/** Most bytes read from the end of a log file. */
export const FILE_TAIL_BYTES_MAX = 8 * 1024 * 1024;

/** What the host's sources are built from. */
export interface HostDiagOptions {
  /** The host root: "/" on a real node, the sandbox directory otherwise. */
  readonly root: string;
  readonly backend: "pact" | "systemd";
  readonly serviceNames: () => Promise<string[]>;
  /** The pact supervisor's captured logs; undefined with systemd. */
  readonly logsOf: ((name: string) => RotatingLog) | undefined;
  /** Runs dmesg and journalctl; undefined: never (sandboxed agents). */
  readonly run: CommandRunner | undefined;
}

/** The sources of a node from its host root, supervisor and command runner. */
export function hostDiagSources(options: HostDiagOptions): DiagSources {
  const rooted = new Rooted(options.root);
  const at = (path: string) => rooted.real(path);
  const journalctl = async (args: string[], want: number) => {
    if (!options.run) return undefined;
    const result = await options.run("journalctl", [
      "--no-pager",
      "-q",
      "-n",
      String(want + 1),
      ...args,
    ]);
    if (result.missing) return undefined;
    if (result.code === 124) return { lines: [], cut: true };
    return lastLines(splitLines(result.stdout), want, false);
  };
  return {
    dmesg: async (want) => {
      const file = await tailOfFile(at("/dev/kmsg"));
      if (file) return lastLines(parseKmsg(file.lines), want, file.cut);
      if (!options.run) return undefined;
      const result = await options.run("dmesg", []);
      if (result.missing) return undefined;
      // Timed out: an empty chunk marked truncated.
      if (result.code === 124) return { lines: [], cut: true };
      if (result.code !== 0) return undefined;
      return lastLines(splitLines(result.stdout), want, false);
    },
    syslog: async (want) => {
      if (options.backend === "systemd" && options.run) {
        const lines = await journalctl([], want);
        if (lines) return { ...lines, label: "journal" };
      }
      for (const path of ["/var/log/syslog", "/var/log/messages"]) {
        const file = await tailOfFile(at(path));
        if (file) return { ...lastLines(file.lines, want, file.cut), label: "syslog" };
      }
      return undefined;
    },
    serviceNames: options.serviceNames,
    serviceLog: async (name, want) => {
      if (options.logsOf) {
        const lines = await options.logsOf(name).tail(want + 1);
        return lastLines(lines, want, false);
      }
      return await journalctl(["-u", unitName(name)], want);
    },
  };
}

/** The last `want` lines; `cut` also when more than `want` were given. */
function lastLines(lines: string[], want: number, cut: boolean): SourceLines {
  return lines.length > want
    ? { lines: lines.slice(lines.length - want), cut: true }
    : { lines, cut };
}

/** The lines of a regular file's last FILE_TAIL_BYTES_MAX bytes; undefined when missing. */
async function tailOfFile(path: string): Promise<SourceLines | undefined> {
  const info = await ifExists(() => Deno.stat(path));
  if (!info?.isFile) return undefined;
  const file = await ifExists(() => Deno.open(path, { read: true }));
  if (!file) return undefined;
  try {
    const start = Math.max(0, info.size - FILE_TAIL_BYTES_MAX);
    await file.seek(start, Deno.SeekMode.Start);
    const bytes = new Uint8Array(info.size - start);
    let read = 0;
    while (read < bytes.length) {
      const n = await file.read(bytes.subarray(read));
      if (n === null) break;
      read += n;
    }
    const lines = splitLines(new TextDecoder().decode(bytes.subarray(0, read)));
    // Started inside a line: drop its end.
    if (start > 0) lines.shift();
    return { lines, cut: start > 0 };
  } finally {
    file.close();
  }
}

function splitLines(text: string): string[] {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

/**
 * Kernel log records (`<prio>,<seq>,<usec>,<flags>[,...];<message>`, with
 * ` KEY=value` continuation lines) as dmesg prints them:
 * `[    5.678901] <message>`. Lines that are no record pass unchanged.
 */
export function parseKmsg(records: readonly string[]): string[] {
  const out: string[] = [];
  for (const record of records) {
    if (record.startsWith(" ")) continue;
    const match = /^\d+,\d+,(\d+),[^;]*;(.*)$/.exec(record);
    if (!match) {
      out.push(record);
      continue;
    }
    const usec = Number(match[1]);
    const stamp = `${Math.floor(usec / 1e6)}.${String(usec % 1e6).padStart(6, "0")}`;
    out.push(`[${stamp.padStart(12)}] ${unescapeKmsg(match[2]!)}`);
  }
  return out;
}

/** kmsg escapes non-printable bytes as `\xNN`. */
function unescapeKmsg(text: string): string {
  return text.replace(/\\x([0-9a-f]{2})/gi, (_, hex: string) => {
    const c = parseInt(hex, 16);
    return c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${hex}`;
  });
}
