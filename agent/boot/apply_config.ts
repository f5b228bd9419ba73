/**
 * Boot application (reference §2.2): the effective declared state (the
 * vCluster overlay with the node's committed changes on top) is applied to
 * the host in the reference's order: sysctl, kernel modules, mounts, files,
 * network. Items already as declared are left alone. Every item is tried;
 * the failures are then reported together and fail the phase.
 */
import {
  ConfigEntry,
  type DeclaredState,
  EntryType,
  type FileDecl,
} from "../../shared/proto/gen/pact/config/config.ts";
import { sha256Hex } from "../../shared/hash.ts";
import { decodeBootOverlay } from "../../journal/boot/overlay_codec.ts";
import { OverlayFold } from "../../journal/boot/overlay_fold.ts";
import type { Host } from "../host/host.ts";
import type { BootConfig } from "./boot_config.ts";
import { BootError } from "./boot_error.ts";
import type { NodeAppliers } from "./node_appliers.ts";

/** The overlay with the node delta folded on top, in canonical order. */
export function effectiveState(config: BootConfig): DeclaredState {
  const fold = new OverlayFold(decodeBootOverlay);
  if (config.overlay !== undefined) {
    fold.apply(ConfigEntry.fromPartial({
      entryType: EntryType.COMMIT,
      sequence: config.complete.baseVersion,
      payload: { $case: "declared", value: config.overlay },
    }));
  }
  for (const entry of config.nodeDelta) fold.apply(entry);
  return fold.result().declared;
}

/** What applying did, per dimension. */
export interface ApplySummary {
  readonly changed: Readonly<Record<Dimension, number>>;
  readonly unchanged: number;
  /** Declared files without content: left as found (their hash is what drift checks). */
  readonly hashOnlyFiles: readonly string[];
}

type Dimension = "sysctl" | "modules" | "mounts" | "files" | "network";

/** Applies `declared` to the host; throws one BootError naming every item that failed. */
export async function applyDeclared(
  declared: DeclaredState,
  host: Host,
  appliers: NodeAppliers,
): Promise<ApplySummary> {
  const changed: Record<Dimension, number> = {
    sysctl: 0,
    modules: 0,
    mounts: 0,
    files: 0,
    network: 0,
  };
  let unchanged = 0;
  const hashOnlyFiles: string[] = [];
  const problems: string[] = [];
  const attempt = async (dimension: Dimension, item: string, change: () => Promise<boolean>) => {
    try {
      if (await change()) changed[dimension]++;
      else unchanged++;
    } catch (err) {
      problems.push(`${dimension} ${item}: ${(err as Error).message}`);
    }
  };

  for (const [key, value] of Object.entries(declared.sysctl)) {
    await attempt("sysctl", key, async () => {
      if ((await host.sysctl.get(key)) === value.trim()) return false;
      await host.sysctl.set(key, value);
      return true;
    });
  }
  const loaded = new Set((await host.modules.list()).map((m) => m.name));
  for (const name of declared.modules) {
    await attempt("modules", name, async () => {
      if (loaded.has(name)) return false;
      await appliers.loadModule(name);
      return true;
    });
  }
  const mounted = new Set((await host.mounts.list()).map((m) => m.mountPoint));
  for (const mount of declared.mounts) {
    await attempt("mounts", mount.path, async () => {
      if (mounted.has(mount.path)) return false;
      if (mount.spec === undefined) throw new Error("no mount spec declared");
      await appliers.mount(mount.path, mount.spec);
      return true;
    });
  }
  for (const file of declared.files) {
    if (file.content.length === 0 && file.contentHash !== "") {
      hashOnlyFiles.push(file.path);
      continue;
    }
    await attempt("files", file.path, () => writeFile(host, file));
  }
  const links = new Map((await host.network.links()).map((l) => [l.name, l]));
  for (const net of declared.network) {
    await attempt("network", net.interface, async () => {
      const link = links.get(net.interface);
      const addressOk = net.address === "" || (link?.addresses.includes(net.address) ?? false);
      const mtuOk = net.mtu === 0 || link?.mtu === net.mtu;
      if (link?.up && addressOk && mtuOk && net.gateway === "") return false;
      await appliers.configureInterface(net);
      return true;
    });
  }
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : "";
    throw new BootError(
      "APPLY_FAILED",
      "INTERNAL",
      `Cannot apply the boot config: ${problems[0]}${more}`,
    );
  }
  return { changed, unchanged, hashOnlyFiles };
}

/** One line for the phase record: `sysctl 2, files 2 changed; 1 unchanged`. */
export function describeApply(summary: ApplySummary): string {
  const changed = Object.entries(summary.changed)
    .filter(([, n]) => n > 0).map(([dimension, n]) => `${dimension} ${n}`);
  const parts = [
    changed.length === 0 ? "nothing changed" : `changed ${changed.join(", ")}`,
    `${summary.unchanged} already as declared`,
  ];
  if (summary.hashOnlyFiles.length > 0) {
    parts.push(`${summary.hashOnlyFiles.length} file(s) declared by hash only, left as found`);
  }
  return parts.join("; ");
}

async function writeFile(host: Host, file: FileDecl): Promise<boolean> {
  const hash = sha256Hex(file.content);
  if (file.contentHash !== "" && file.contentHash !== hash) {
    throw new Error(`content does not match its declared hash ${file.contentHash.slice(0, 12)}`);
  }
  const mode = parseMode(file.mode);
  const info = await host.files.stat(file.path);
  const modeOk = mode === undefined || info?.mode === `0${mode.toString(8).padStart(3, "0")}`;
  if ((await host.files.hash(file.path)) === hash && modeOk) return false;
  await host.files.write(file.path, file.content, mode);
  return true;
}

function parseMode(text: string): number | undefined {
  if (text === "") return undefined;
  if (!/^0?[0-7]{3,4}$/.test(text)) throw new Error(`invalid mode ${JSON.stringify(text)}`);
  return parseInt(text, 8);
}
