/**
 * The cgroup port: one cgroup v2 scope per supervised process with its
 * memory and cpu limits. The real adapter writes the cgroup v2 interface
 * files below a configurable root (`/sys/fs/cgroup` on a node, a temporary
 * directory in tests). pact owns `pact.slice`; `workload.slice` belongs to
 * lattice and pact refuses to create scopes there (reference RI1).
 */
import { join } from "node:path";
import { PactError } from "../../shared/errors/mod.ts";

/** Limits written into a scope. */
export interface ScopeLimits {
  readonly memoryMaxBytes: number | undefined;
  readonly cpuWeight: number;
}

/** A created scope. */
export interface CgroupScope {
  /** Absolute path of the scope directory. */
  readonly path: string;
}

/** Creates, fills and releases per-service scopes. */
export interface CgroupPort {
  /** Creates the slice hierarchy; idempotent. */
  ensureHierarchy(): Promise<void>;
  createScope(slice: string, name: string, limits: ScopeLimits): Promise<CgroupScope>;
  addProcess(scope: CgroupScope, pid: number): Promise<void>;
  /** Kills whatever is left in the scope and removes it. */
  releaseScope(scope: CgroupScope): Promise<void>;
}

/** Slices created at boot below the root. */
export const PACT_SLICES = [
  "pact.slice",
  "pact.slice/infra.slice",
  "pact.slice/network.slice",
  "pact.slice/gpu.slice",
  "pact.slice/audit.slice",
  "workload.slice",
] as const;

const CONTROLLERS = "+memory +cpu +io +pids";
const SCOPE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]*$/;

/** cgroup v2 through its interface files below `root`. */
export class CgroupV2 implements CgroupPort {
  readonly root: string;

  constructor(root: string) {
    if (root === "") throw new TypeError("A cgroup root must be a directory path, not empty");
    this.root = root;
  }

  async ensureHierarchy(): Promise<void> {
    await enableControllers(this.root);
    for (const slice of PACT_SLICES) {
      const path = join(this.root, slice);
      await Deno.mkdir(path, { recursive: true });
      if (slice === "pact.slice" || slice === "workload.slice") await enableControllers(path);
    }
  }

  async createScope(slice: string, name: string, limits: ScopeLimits): Promise<CgroupScope> {
    if (slice.split("/")[0] !== "pact.slice") {
      throw new PactError(
        "PERMISSION_DENIED",
        `Cannot create scope ${name} in ${slice}: pact only writes below pact.slice (workload.slice belongs to lattice)`,
      );
    }
    if (!SCOPE_NAME.test(name)) {
      throw new PactError("INVALID_ARGUMENT", `Cannot create scope: invalid name: ${name}`);
    }
    const path = join(this.root, slice, `${name}.scope`);
    await Deno.mkdir(join(this.root, slice), { recursive: true });
    await Deno.mkdir(path, { recursive: true });
    await Deno.writeTextFile(
      join(path, "memory.max"),
      limits.memoryMaxBytes === undefined ? "max\n" : `${limits.memoryMaxBytes}\n`,
    );
    await Deno.writeTextFile(join(path, "cpu.weight"), `${limits.cpuWeight}\n`);
    return { path };
  }

  async addProcess(scope: CgroupScope, pid: number): Promise<void> {
    // The kernel takes one pid per write; in a plain directory we keep a list.
    await Deno.writeTextFile(join(scope.path, "cgroup.procs"), `${pid}\n`, { append: true });
  }

  async releaseScope(scope: CgroupScope): Promise<void> {
    if (!(await exists(join(scope.path, "cgroup.controllers")))) {
      // A plain directory (tests, dry runs): nothing runs in it, so killing the
      // pids listed there could hit unrelated processes that reuse them.
      await Deno.remove(scope.path, { recursive: true }).catch(ignoreNotFound);
      return;
    }
    await killScope(scope.path);
    await Deno.remove(scope.path).catch(ignoreNotFound);
  }
}

/** Kills every process in a real cgroup: `cgroup.kill` (Linux 5.14+), else SIGKILL per pid. */
async function killScope(path: string): Promise<void> {
  if (await exists(join(path, "cgroup.kill"))) {
    await Deno.writeTextFile(join(path, "cgroup.kill"), "1\n");
  } else {
    const procs = await Deno.readTextFile(join(path, "cgroup.procs"));
    for (const line of procs.split("\n")) {
      const pid = Number(line);
      if (!(pid > 0)) continue;
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
  }
  // The directory can only be removed once the kernel has emptied it.
  for (let attempt = 0; attempt < 100; attempt++) {
    const procs = await Deno.readTextFile(join(path, "cgroup.procs")).catch(() => "");
    if (procs.trim() === "") return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new PactError("INTERNAL", `Cannot empty cgroup scope ${path}: processes survive SIGKILL`);
}

async function enableControllers(path: string): Promise<void> {
  await Deno.mkdir(path, { recursive: true });
  await Deno.writeTextFile(join(path, "cgroup.subtree_control"), `${CONTROLLERS}\n`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

function ignoreNotFound(err: unknown): void {
  if (!(err instanceof Deno.errors.NotFound)) throw err;
}
