/**
 * Phase 0 of a boot as PID 1 (reference §2.14, PB0): the pseudo-filesystems
 * are mounted before anything reads /proc, idempotently (a mount point that
 * /proc/self/mounts already lists is left alone), /dev is devtmpfs and never
 * plain tmpfs, and a failure to mount /proc is fatal while the others are
 * logged and skipped. Then the agent protects itself from the OOM killer
 * and takes its hostname from the kernel command line (`pact.nodeid=`).
 */
import { type InitCalls, MS_NODEV, MS_NOEXEC, MS_NOSUID } from "./init_calls.ts";
import { HardwareWatchdog } from "./watchdog.ts";

/** One pseudo-filesystem of phase 0. */
export interface EarlyMount {
  readonly target: string;
  readonly fsType: string;
  readonly source: string;
  readonly flags: bigint;
  readonly data: string;
  /** The boot cannot go on without it. */
  readonly fatal: boolean;
}

const NOSUID_NODEV_NOEXEC = MS_NOSUID | MS_NODEV | MS_NOEXEC;

/** The mounts, in the order the reference gives (parents before children). */
export const EARLY_MOUNTS: readonly EarlyMount[] = [
  {
    target: "/proc",
    fsType: "proc",
    source: "proc",
    flags: NOSUID_NODEV_NOEXEC,
    data: "",
    fatal: true,
  },
  {
    target: "/sys",
    fsType: "sysfs",
    source: "sysfs",
    flags: NOSUID_NODEV_NOEXEC,
    data: "",
    fatal: false,
  },
  {
    target: "/dev",
    fsType: "devtmpfs",
    source: "devtmpfs",
    flags: MS_NOSUID,
    data: "mode=0755",
    fatal: false,
  },
  {
    target: "/dev/pts",
    fsType: "devpts",
    source: "devpts",
    flags: MS_NOSUID | MS_NOEXEC,
    data: "gid=5,mode=0620,ptmxmode=0666",
    fatal: false,
  },
  {
    target: "/dev/shm",
    fsType: "tmpfs",
    source: "shm",
    flags: MS_NOSUID | MS_NODEV,
    data: "mode=1777",
    fatal: false,
  },
  {
    target: "/run",
    fsType: "tmpfs",
    source: "run",
    flags: MS_NOSUID | MS_NODEV,
    data: "mode=0755",
    fatal: false,
  },
  {
    target: "/tmp",
    fsType: "tmpfs",
    source: "tmp",
    flags: MS_NOSUID | MS_NODEV,
    data: "mode=1777",
    fatal: false,
  },
  {
    target: "/sys/fs/cgroup",
    fsType: "cgroup2",
    source: "cgroup2",
    flags: NOSUID_NODEV_NOEXEC,
    data: "nsdelegate",
    fatal: false,
  },
];

/** What phase 0 did with one mount. */
export interface MountOutcome {
  readonly target: string;
  readonly result: "mounted" | "already" | "failed";
  readonly detail?: string;
}

/** Where phase 0 works: `/` on a node; a scratch directory in tests. */
export interface EarlyOptions {
  readonly calls: InitCalls;
  /** Prefix of every path (default "/"). */
  readonly root?: string;
  /** The mounted targets (from /proc/self/mounts), read again after /proc is mounted. */
  readonly mountedTargets?: () => Promise<Set<string>>;
  readonly log: (line: string) => void;
}

/** Raised when /proc cannot be mounted: nothing after it can work. */
export class EarlyMountError extends Error {}

/**
 * Mounts what is missing of EARLY_MOUNTS under `root`. Throws
 * EarlyMountError if /proc is neither mounted nor mountable.
 */
export async function mountPseudoFilesystems(options: EarlyOptions): Promise<MountOutcome[]> {
  const root = (options.root ?? "/").replace(/\/+$/, "");
  const readTargets = options.mountedTargets ?? (() => mountedTargets(`${root}/proc/self/mounts`));
  let mounted = await readTargets();
  const outcomes: MountOutcome[] = [];
  for (const mount of EARLY_MOUNTS) {
    const target = `${root}${mount.target}`;
    if (mounted.has(target)) {
      outcomes.push({ target: mount.target, result: "already" });
      continue;
    }
    try {
      await Deno.mkdir(target, { recursive: true });
      options.calls.mount(mount.source, target, mount.fsType, mount.flags, mount.data);
      outcomes.push({ target: mount.target, result: "mounted" });
      options.log(`pid1: mounted ${mount.fsType} on ${mount.target}`);
      // /proc is there now: what else is already mounted can be known.
      if (mount.target === "/proc") mounted = await readTargets();
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      if (mount.fatal) {
        throw new EarlyMountError(`cannot mount ${mount.fsType} on ${mount.target}: ${detail}`);
      }
      outcomes.push({ target: mount.target, result: "failed", detail });
      options.log(`pid1: WARN could not mount ${mount.fsType} on ${mount.target}: ${detail}`);
    }
  }
  return outcomes;
}

/** The mount points listed in a mounts file (octal escapes decoded); empty when unreadable. */
export async function mountedTargets(path: string): Promise<Set<string>> {
  const text = await Deno.readTextFile(path).catch(() => "");
  const targets = new Set<string>();
  for (const line of text.split("\n")) {
    const field = line.split(" ")[1];
    if (field) {
      targets.add(field.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))));
    }
  }
  return targets;
}

/** The node id the kernel command line names (`pact.nodeid=` or `pact.node_id=`). */
export function nodeIdFromCmdline(cmdline: string): string | undefined {
  for (const word of cmdline.trim().split(/\s+/)) {
    const match = /^pact\.node_?id=(.+)$/.exec(word);
    if (match) return match[1];
  }
  return undefined;
}

/** RFC 1123 host names only: a node id that is not one is not set as the hostname. */
const HOSTNAME =
  /^(?=.{1,64}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

/**
 * The rest of phase 0: oom_score_adj -1000 (the agent must never be the
 * OOM killer's choice) and the hostname from the kernel command line.
 * Failures are logged; neither stops the boot.
 */
export async function protectAndName(options: EarlyOptions): Promise<void> {
  const root = (options.root ?? "/").replace(/\/+$/, "");
  try {
    await Deno.writeTextFile(`${root}/proc/self/oom_score_adj`, "-1000\n");
    options.log("pid1: oom_score_adj -1000");
  } catch (err) {
    options.log(
      `pid1: WARN could not set oom_score_adj: ${err instanceof Error ? err.message : err}`,
    );
  }
  const cmdline = await Deno.readTextFile(`${root}/proc/cmdline`).catch(() => "");
  const nodeId = nodeIdFromCmdline(cmdline);
  if (nodeId === undefined) return;
  if (!HOSTNAME.test(nodeId)) {
    options.log(
      `pid1: WARN pact.nodeid=${JSON.stringify(nodeId)} is not a valid hostname; not set`,
    );
    return;
  }
  try {
    options.calls.sethostname(nodeId);
    options.log(`pid1: hostname ${nodeId} (kernel command line)`);
  } catch (err) {
    options.log(`pid1: WARN could not set hostname: ${err instanceof Error ? err.message : err}`);
  }
}

/** What phase 0 leaves running. */
export interface PhaseZero {
  readonly watchdog: HardwareWatchdog | undefined;
}

/** Phase 0 options of the real agent. */
export interface PhaseZeroOptions extends EarlyOptions {
  /** The watchdog device; undefined: none is opened. */
  readonly watchdogDevice: string | undefined;
  readonly watchdogTimeoutSeconds?: number | undefined;
}

/**
 * Everything phase 0 does, in order: mounts, OOM protection and hostname,
 * then the watchdog (whose petting covers the rest of the boot). Throws
 * EarlyMountError when /proc cannot be mounted.
 */
export async function runPhaseZero(options: PhaseZeroOptions): Promise<PhaseZero> {
  await mountPseudoFilesystems(options);
  await protectAndName(options);
  const watchdog = options.watchdogDevice === undefined ? undefined : await HardwareWatchdog.open({
    calls: options.calls,
    device: options.watchdogDevice,
    log: options.log,
    ...(options.watchdogTimeoutSeconds !== undefined
      ? { timeoutSeconds: options.watchdogTimeoutSeconds }
      : {}),
  });
  return { watchdog };
}
