/**
 * Argument checks of `pact exec` (reference §2.11, F5 fix). The agent never
 * runs a shell, so metacharacters are inert; they are still refused, so
 * that an audit record reads the same to everyone and a command that
 * re-parses its arguments through a shell gets nothing to parse. Paths to
 * secrets are refused in every spelling: percent-encoded, with `.`/`..`
 * segments, relative to the working directory, behind an `--option=`, or
 * behind a symbolic link that exists now (a link created between the
 * check and the run is not seen: the caller cannot write files through
 * exec, but local users can).
 */
import { PactError } from "../../../shared/errors/mod.ts";

/** Where exec runs commands (relative paths are resolved against it). */
export const EXEC_CWD = "/tmp";
/** Most arguments of one command. */
export const ARGS_MAX = 256;
/** Most bytes of one argument. */
export const ARG_BYTES_MAX = 4096;

/** Paths no argument may name, reach or contain (reference F5). */
export const SENSITIVE_PATHS: readonly string[] = [
  "/etc/shadow",
  "/etc/gshadow",
  "/etc/master.passwd",
  "/root/",
  "/.ssh/",
  "/etc/ssl/private/",
  "/etc/pact/ca/",
  "/run/pact/ca/",
];

/**
 * Beyond the reference: the agent's own state (its identity key, journal
 * queue), and process memory and environments (the agent's token may be in
 * its environment; exec runs as root, so it could read them).
 */
export const AGENT_SECRETS: readonly string[] = [
  "/var/lib/pact/",
  "/proc/kcore",
  "/dev/mem",
  "/dev/kmem",
  "/dev/port",
];
const PROCESS_SECRET = /^\/proc\/[^/]+\/(task\/[^/]+\/)?(environ|mem)$/;

/** Substrings refused in arguments (and command names). */
export const METACHARACTERS: readonly string[] = [
  ";",
  "|",
  "&",
  "`",
  "$(",
  "${",
  "\n",
  "\r",
  "\0",
];

/** Commands that walk directories (then an ancestor of a secret is refused too). */
const RECURSIVE_READERS = new Set(["grep", "diff"]);
const RECURSIVE_FLAGS =
  /^(-[A-Za-z]*[rR][A-Za-z]*|--recursive|--dereference-recursive|--directories=recurse)$/;

/** Reads a path's target: undefined when it does not exist. */
export type RealPath = (path: string) => string | undefined;

/** Throws NOT_WHITELISTED unless every argument of `command` passes. */
export function checkArguments(
  command: string,
  args: readonly string[],
  realPath: RealPath,
): void {
  if (args.length > ARGS_MAX) {
    refuse(`${args.length} arguments: at most ${ARGS_MAX}`);
  }
  const recursive = RECURSIVE_READERS.has(command) &&
    args.some((arg, i) =>
      RECURSIVE_FLAGS.test(arg) ||
      ((arg === "-d" || arg === "--directories") && args[i + 1] === "recurse") ||
      arg === "-drecurse"
    );
  for (const arg of args) {
    if (new TextEncoder().encode(arg).length > ARG_BYTES_MAX) {
      refuse(`an argument of more than ${ARG_BYTES_MAX} bytes`);
    }
    const forms = spellings(arg);
    if (ESCAPE.test(forms.at(-1)!)) {
      refuse(
        `argument ${JSON.stringify(arg)} is percent-encoded more than ${DECODE_ROUNDS_MAX} times`,
      );
    }
    for (const form of forms) checkForm(arg, form, recursive, realPath);
  }
  checkRunsNothing(command, args);
}

/** Most rounds of percent-decoding; an argument still encoded after them is refused. */
export const DECODE_ROUNDS_MAX = 8;

/**
 * The argument as given and after each round of percent-decoding (`%252F`
 * → `%2F` → `/`), up to DECODE_ROUNDS_MAX + 1 forms; the last one still
 * holds an escape when the argument is encoded deeper than that.
 */
export function spellings(arg: string): string[] {
  const forms = [arg];
  let current = arg;
  for (let round = 0; round < DECODE_ROUNDS_MAX && ESCAPE.test(current); round++) {
    current = current.replace(
      /%([0-9A-Fa-f]{2})/g,
      (_, hex: string) => String.fromCharCode(parseInt(hex, 16)),
    );
    forms.push(current);
  }
  return forms;
}

const ESCAPE = /%[0-9A-Fa-f]{2}/;

function checkForm(arg: string, form: string, recursive: boolean, realPath: RealPath): void {
  const meta = METACHARACTERS.find((m) => form.includes(m));
  if (meta !== undefined) {
    refuse(`argument ${JSON.stringify(arg)} contains ${JSON.stringify(meta)}`);
  }
  const segments = form.split(/[/=]/);
  if (segments.includes("..")) {
    refuse(`argument ${JSON.stringify(arg)} contains a ".." path segment`);
  }
  // A relative path reaches no root-anchored secret (no `..`, links are
  // followed below), but a `.ssh` directory may be anywhere.
  if (segments.includes(".ssh")) refuse(`argument ${JSON.stringify(arg)} reaches /.ssh/`);
  const { named, existing } = pathsIn(form);
  for (const path of named) check(arg, path, "", recursive);
  for (const path of existing) {
    const real = realPath(path);
    if (real !== undefined && real !== path) check(arg, real, ` (through ${path})`, recursive);
  }
}

function check(arg: string, path: string, via: string, recursive: boolean): void {
  const secret = sensitiveIn(path, recursive);
  if (secret !== undefined) refuse(`argument ${JSON.stringify(arg)} reaches ${secret}${via}`);
}

/**
 * The paths an argument may name. `named`: the argument itself, what
 * follows its first `/` (`-f/etc/x`) and each side of its `=` signs
 * (`--file=/etc/x`), absolute ones
 * normalized; these are checked as written. `existing`: each resolved
 * against the working directory, whose real paths (links followed) are
 * checked too.
 */
export function pathsIn(form: string): { named: string[]; existing: string[] } {
  const named = new Set<string>([form]);
  const existing = new Set<string>();
  const values = [form];
  const slash = form.indexOf("/");
  if (slash > 0) values.push(form.slice(slash));
  // Each side of every `=` (`if=/dev/x`, `--file=/etc/x`, `a=b=/etc/x`).
  if (form.includes("=")) values.push(...form.split("=").filter((part) => part !== ""));
  for (const value of values) {
    const absolute = value.startsWith("/");
    if (absolute) named.add(normalize(value));
    existing.add(normalize(absolute ? value : `${EXEC_CWD}/${value}`));
  }
  return { named: [...named], existing: [...existing] };
}

/** `path` with `//`, `.` and `..` segments resolved (never above `/`). */
export function normalize(path: string): string {
  const out: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") out.pop();
    else out.push(segment);
  }
  return `/${out.join("/")}`;
}

/** Directories whose recursive reading is refused: they hold secrets below them. */
const SECRET_HOLDERS = ["/home", "/etc", "/root", "/run", "/var/lib/pact"];

/** The secret `path` names, is inside of, or (when recursing) contains. */
export function sensitiveIn(path: string, recursive: boolean): string | undefined {
  for (const secret of [...SENSITIVE_PATHS, ...AGENT_SECRETS]) {
    const bare = secret.endsWith("/") ? secret.slice(0, -1) : secret;
    if (path.includes(secret) || path.endsWith(bare) || path.includes(`${bare}/`)) return secret;
  }
  if (path.startsWith("/") && PROCESS_SECRET.test(normalize(path))) {
    return "/proc/<pid>/environ|mem";
  }
  if (recursive && path.startsWith("/")) {
    const dir = normalize(path);
    const holder = SECRET_HOLDERS.find((h) => h === dir || h.startsWith(`${dir}/`) || dir === "/");
    if (holder !== undefined) return `${holder} (recursively)`;
  }
  return undefined;
}

/** Refuses the whitelisted commands' own ways of running another program. */
function checkRunsNothing(command: string, args: readonly string[]): void {
  // `ip netns exec NS cmd` and `ip vrf exec VRF cmd` run any program (ip
  // accepts abbreviations: `ip net e NS cmd`).
  const prefixOf = (word: string) => (arg: string) => arg.length >= 1 && word.startsWith(arg);
  if (
    command === "ip" && args.some(prefixOf("exec")) &&
    (args.some(prefixOf("netns")) || args.some(prefixOf("vrf")))
  ) {
    refuse("ip netns exec and ip vrf exec run other programs");
  }
  // `ip -batch FILE` runs ip commands (netns exec among them) from a file.
  if (command === "ip" && args.some((arg) => /^--?b(a(t(c(h)?)?)?)?$/.test(arg))) {
    refuse("ip -batch runs commands from a file");
  }
  if (command === "systemctl" && args.some((arg) => /^--(root|image)\b/.test(arg))) {
    refuse("systemctl --root and --image act on another tree");
  }
  // `systemctl -H user@host` reaches another machine over ssh.
  if (command === "systemctl" && args.some((arg) => /^(-[A-Za-z]*H.*|--host\b.*)$/.test(arg))) {
    refuse("systemctl -H/--host runs ssh to another host");
  }
  // A modprobe configuration's `install` lines run shell commands.
  if (
    command === "modprobe" &&
    args.some((arg) => /^(-[A-Za-z]*[Cd].*|--config\b.*|--dirname\b.*)$/.test(arg))
  ) {
    refuse("modprobe -C/--config and -d/--dirname read another configuration");
  }
}

function refuse(reason: string): never {
  throw new PactError("NOT_WHITELISTED", `Command refused: ${reason}`);
}
