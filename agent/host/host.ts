/**
 * Ports through which the agent reads and changes its node. Two adapters
 * implement them: the real Linux host (`linux_host.ts`, rooted at `/`) and
 * a sandbox rooted in a directory (`sandbox_host.ts`), so the whole agent
 * runs unprivileged in tests and demos. Keys are always host paths as the
 * node sees them (`/etc/hosts`), never the sandbox's real path.
 */

/** What a file looks like, as far as drift is concerned. */
export interface FileInfo {
  readonly size: number;
  /** Permission bits as octal text, e.g. `0644`. */
  readonly mode: string;
  readonly uid: number;
  readonly gid: number;
  readonly mtimeMs: number;
}

/** Files on the node. */
export interface FilesPort {
  /** The file's bytes, or undefined when it does not exist. */
  read(path: string): Promise<Uint8Array | undefined>;
  /** Writes the whole file (creating parent directories), atomically via rename. */
  write(path: string, data: Uint8Array, mode?: number): Promise<void>;
  /** Removes a file; a missing file is fine. */
  remove(path: string): Promise<void>;
  stat(path: string): Promise<FileInfo | undefined>;
  /** SHA-256 of the content as lowercase hex, or undefined when missing. */
  hash(path: string): Promise<string | undefined>;
  /** Where the file really is, for `Deno.watchFs` (the sandbox prefixes its root). */
  realPath(path: string): string;
  /** The node path of a real path, or undefined when it lies outside the host. */
  nodePath(realPath: string): string | undefined;
}

/** Kernel parameters under /proc/sys. */
export interface SysctlPort {
  /** The value (trimmed), or undefined when the key does not exist. */
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
}

/** One line of /proc/self/mountinfo. */
export interface MountEntry {
  readonly mountId: number;
  readonly parentId: number;
  readonly mountPoint: string;
  readonly root: string;
  readonly fsType: string;
  readonly source: string;
  readonly options: string;
  readonly superOptions: string;
  readonly readOnly: boolean;
}

/** Mounted filesystems. */
export interface MountsPort {
  list(): Promise<MountEntry[]>;
}

/** One loaded kernel module (/proc/modules). */
export interface ModuleEntry {
  readonly name: string;
  readonly sizeBytes: number;
  readonly refCount: number;
  readonly usedBy: readonly string[];
  readonly state: string;
}

/** Loaded kernel modules. */
export interface ModulesPort {
  list(): Promise<ModuleEntry[]>;
}

/** A network interface with its addresses. */
export interface LinkEntry {
  readonly name: string;
  readonly mtu: number;
  readonly up: boolean;
  readonly mac: string;
  /** CIDR addresses, e.g. `10.0.0.5/24`. */
  readonly addresses: readonly string[];
}

/** A route. */
export interface RouteEntry {
  readonly destination: string;
  readonly gateway: string | undefined;
  readonly device: string | undefined;
}

/** Links, addresses and routes. */
export interface NetworkPort {
  links(): Promise<LinkEntry[]>;
  routes(): Promise<RouteEntry[]>;
}

/** A service and its state (`running`, `stopped`, `failed`, ...). */
export interface ServiceEntry {
  readonly name: string;
  readonly state: string;
}

/** Services the node runs. */
export interface ServicesPort {
  list(): Promise<ServiceEntry[]>;
}

/** An installed package. */
export interface PackageEntry {
  readonly name: string;
  readonly version: string;
}

/** Installed packages. */
export interface PackagesPort {
  list(): Promise<PackageEntry[]>;
}

/** A process holding a resource open (active-consumer check, reference A5). */
export interface Consumer {
  readonly pid: number;
  readonly command: string;
  /** The open path or working directory that makes it a consumer. */
  readonly path: string;
}

/** Finds processes using paths. */
export interface ConsumersPort {
  /** Processes with an open file, a working directory or a root at or below `path`. */
  of(path: string): Promise<Consumer[]>;
}

/** The node, as the agent sees it. */
export interface Host {
  /** Human name of the adapter, e.g. `linux` or `sandbox:/tmp/x`. */
  readonly name: string;
  readonly files: FilesPort;
  readonly sysctl: SysctlPort;
  readonly mounts: MountsPort;
  readonly modules: ModulesPort;
  readonly network: NetworkPort;
  readonly services: ServicesPort;
  readonly packages: PackagesPort;
  readonly consumers: ConsumersPort;
}
