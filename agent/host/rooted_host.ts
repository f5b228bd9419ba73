/**
 * Port implementations that read the kernel's files below a root directory:
 * `/` on a real node, a temporary directory in the sandbox. Linux exposes
 * files, sysctl (/proc/sys), mounts (/proc/self/mountinfo), modules
 * (/proc/modules) and open files (/proc/<pid>/fd) as files, so one
 * implementation serves both adapters.
 */
import { dirname } from "node:path";
import { PactError } from "../../shared/errors/mod.ts";
import { sha256Hex } from "../../shared/hash.ts";
import type {
  Consumer,
  ConsumersPort,
  FileInfo,
  FilesPort,
  ModuleEntry,
  ModulesPort,
  MountEntry,
  MountsPort,
  SysctlPort,
} from "./host.ts";
import { parseMountinfo, parseProcModules } from "./proc_parsers.ts";

/** Bound on processes one consumer scan looks at. */
const PROCESSES_MAX = 65_536;

/** Maps node paths to real paths below `root` and refuses paths that would leave it. */
export class Rooted {
  readonly root: string;

  constructor(root: string) {
    if (!root.startsWith("/")) throw new TypeError(`Host root must be absolute: ${root}`);
    this.root = root === "/" ? "" : root.replace(/\/+$/, "");
  }

  /** The real path of a node path. */
  real(path: string): string {
    if (!path.startsWith("/") || path.split("/").includes("..")) {
      throw new PactError(
        "INVALID_ARGUMENT",
        `Invalid node path ${JSON.stringify(path)}: expected an absolute path without '..'`,
      );
    }
    return `${this.root}${path}`;
  }

  /** The node path of a real path, or undefined when outside the root. */
  node(realPath: string): string | undefined {
    if (this.root === "") return realPath;
    if (realPath === this.root) return "/";
    return realPath.startsWith(`${this.root}/`) ? realPath.slice(this.root.length) : undefined;
  }
}

/** Files below the root. */
export class RootedFiles implements FilesPort {
  readonly #at: Rooted;

  constructor(at: Rooted) {
    this.#at = at;
  }

  async read(path: string): Promise<Uint8Array | undefined> {
    return await ifExists(() => Deno.readFile(this.#at.real(path)));
  }

  async write(path: string, data: Uint8Array, mode?: number): Promise<void> {
    const real = this.#at.real(path);
    await Deno.mkdir(dirname(real), { recursive: true });
    const temp = `${real}.pact-tmp-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.writeFile(temp, data, mode === undefined ? {} : { mode });
    if (mode !== undefined) await Deno.chmod(temp, mode);
    await Deno.rename(temp, real);
  }

  async remove(path: string): Promise<void> {
    await ifExists(() => Deno.remove(this.#at.real(path)));
  }

  async stat(path: string): Promise<FileInfo | undefined> {
    const info = await ifExists(() => Deno.stat(this.#at.real(path)));
    if (info === undefined) return undefined;
    return {
      size: info.size,
      mode: `0${((info.mode ?? 0) & 0o7777).toString(8).padStart(3, "0")}`,
      uid: info.uid ?? 0,
      gid: info.gid ?? 0,
      mtimeMs: info.mtime?.getTime() ?? 0,
    };
  }

  async hash(path: string): Promise<string | undefined> {
    const data = await this.read(path);
    return data === undefined ? undefined : sha256Hex(data);
  }

  realPath(path: string): string {
    return this.#at.real(path);
  }

  nodePath(realPath: string): string | undefined {
    return this.#at.node(realPath);
  }
}

const SYSCTL_KEY = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_*:-]+)*$/;

/** Sysctl as files under <root>/proc/sys (`vm.swappiness` -> proc/sys/vm/swappiness). */
export class RootedSysctl implements SysctlPort {
  readonly #at: Rooted;

  constructor(at: Rooted) {
    this.#at = at;
  }

  async get(key: string): Promise<string | undefined> {
    const text = await ifExists(() => Deno.readTextFile(this.#path(key)));
    return text?.trim();
  }

  async set(key: string, value: string): Promise<void> {
    const path = this.#path(key);
    try {
      await Deno.writeTextFile(path, `${value}\n`, { create: this.#at.root !== "" });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new PactError("NOT_FOUND", `Cannot set sysctl ${key}: no such key`);
      }
      throw new PactError("INTERNAL", `Cannot set sysctl ${key}: ${(err as Error).message}`);
    }
  }

  #path(key: string): string {
    if (!SYSCTL_KEY.test(key)) {
      throw new PactError("INVALID_ARGUMENT", `Invalid sysctl key ${JSON.stringify(key)}`);
    }
    return this.#at.real(`/proc/sys/${key.replaceAll(".", "/")}`);
  }
}

/** Mounts from <root>/proc/self/mountinfo. */
export class RootedMounts implements MountsPort {
  readonly #at: Rooted;

  constructor(at: Rooted) {
    this.#at = at;
  }

  async list(): Promise<MountEntry[]> {
    const text = await ifExists(() => Deno.readTextFile(this.#at.real("/proc/self/mountinfo")));
    return parseMountinfo(text ?? "");
  }
}

/** Modules from <root>/proc/modules (none when the kernel has no module support). */
export class RootedModules implements ModulesPort {
  readonly #at: Rooted;

  constructor(at: Rooted) {
    this.#at = at;
  }

  async list(): Promise<ModuleEntry[]> {
    const text = await ifExists(() => Deno.readTextFile(this.#at.real("/proc/modules")));
    return parseProcModules(text ?? "");
  }
}

/** Consumers from <root>/proc/<pid>/{fd/*,cwd,root}; processes it may not inspect are skipped. */
export class RootedConsumers implements ConsumersPort {
  readonly #at: Rooted;

  constructor(at: Rooted) {
    this.#at = at;
  }

  async of(path: string): Promise<Consumer[]> {
    const target = path.replace(/\/+$/, "") || "/";
    const covers = (open: string) =>
      target === "/" || open === target || open.startsWith(`${target}/`);
    const proc = this.#at.real("/proc");
    const found: Consumer[] = [];
    let seen = 0;
    for await (const entry of (await ifExists(() => Promise.resolve(Deno.readDir(proc)))) ?? []) {
      if (!/^\d+$/.test(entry.name) || ++seen > PROCESSES_MAX) continue;
      const links = [`${proc}/${entry.name}/cwd`, `${proc}/${entry.name}/root`];
      try {
        for await (const fd of Deno.readDir(`${proc}/${entry.name}/fd`)) {
          links.push(`${proc}/${entry.name}/fd/${fd.name}`);
        }
      } catch {
        // Another user's process, or gone: not ours to inspect.
      }
      const hit = await firstCovered(links, covers);
      if (hit === undefined) continue;
      const command = (await ifExists(() => Deno.readTextFile(`${proc}/${entry.name}/comm`)))
        ?.trim() ?? "?";
      found.push({ pid: Number(entry.name), command, path: hit });
    }
    return found.sort((a, b) => a.pid - b.pid);
  }
}

async function firstCovered(
  links: string[],
  covers: (path: string) => boolean,
): Promise<string | undefined> {
  for (const link of links) {
    const target = await Deno.readLink(link).catch(() => undefined);
    // The root link is "/" for almost every process: only count it when it is not.
    if (target === undefined || (link.endsWith("/root") && target === "/")) continue;
    if (covers(target)) return target;
  }
  return undefined;
}

/** Runs `fn`; a NotFound error gives undefined. */
export async function ifExists<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}
