/**
 * What every observer reports: one observed change on the node, before the
 * drift evaluator decides whether it is drift.
 */

/** Which part of the node changed (reference §2.4: the seven drift categories). */
export type Category = "mount" | "file" | "network" | "service" | "kernel" | "package" | "gpu";

/** Every category, in the drift vector's order. */
export const CATEGORIES: readonly Category[] = [
  "mount",
  "file",
  "network",
  "service",
  "kernel",
  "package",
  "gpu",
];

/** Which mechanism saw the change. */
export type Source = "inotify" | "sweep" | "probe" | "netlink" | "ebpf" | "manual";

/** One observed change. */
export interface ObserverEvent {
  readonly category: Category;
  /**
   * What changed: an absolute path for files and mounts, a sysctl name
   * (`vm.swappiness`), `module:<name>`, an interface name, a service or
   * package name, or a GPU index.
   */
  readonly key: string;
  /** Human detail, e.g. `modified (sha256 ab12.. -> cd34..)` or `"60" -> "10"`. */
  readonly detail: string;
  readonly source: Source;
  /** When it was seen, ms since the epoch. */
  readonly atMs: number;
  /** The acting process or session, where the observer can know it. */
  readonly actor?: string | undefined;
}

/** True for categories whose keys are filesystem paths (the blacklist applies to them). */
export function hasPathKey(category: Category): boolean {
  return category === "file" || category === "mount";
}
