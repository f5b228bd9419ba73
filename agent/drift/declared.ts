/**
 * The node's declared state (vCluster overlay + node delta, as the boot
 * stream delivers it) against what the host actually has: the basis of
 * `pact diff` and of the drift a node shows right after boot. Files are
 * compared by SHA-256, sysctls by value, modules by presence and mounts by
 * type and source.
 */
import { sha256Hex } from "../../shared/hash.ts";
import type { DeclaredState } from "../../shared/proto/gen/pact/config/config.ts";
import type { Host } from "../host/host.ts";
import type { ObserverEvent } from "../observe/observer_event.ts";

/** What the observers must follow for a declared state. */
export interface DeclaredTargets {
  readonly files: readonly string[];
  readonly sysctlKeys: readonly string[];
}

/** Paths and keys named by `declared`. */
export function declaredTargets(declared: DeclaredState): DeclaredTargets {
  return {
    files: declared.files.map((f) => f.path),
    sysctlKeys: Object.keys(declared.sysctl).sort(),
  };
}

/** The declared content hash of a file: its own, else the hash of its content. */
export function declaredHash(file: DeclaredState["files"][number]): string | undefined {
  if (file.contentHash !== "") return file.contentHash.replace(/^sha256:/, "");
  return file.content.length > 0 ? sha256Hex(file.content) : undefined;
}

/** One event per key where the host differs from `declared`, stamped `atMs`. */
export async function diffDeclared(
  host: Host,
  declared: DeclaredState,
  atMs: number,
): Promise<ObserverEvent[]> {
  const events: ObserverEvent[] = [];
  const push = (category: ObserverEvent["category"], key: string, detail: string) =>
    events.push({ category, key, detail, source: "probe", atMs });
  for (const file of declared.files) {
    const want = declaredHash(file);
    const have = await host.files.hash(file.path);
    if (have === undefined) push("file", file.path, "deleted (declared, missing on the node)");
    else if (want !== undefined && have !== want) {
      push("file", file.path, `modified (sha256 ${want.slice(0, 12)} -> ${have.slice(0, 12)})`);
    }
  }
  for (const [key, value] of Object.entries(declared.sysctl).sort()) {
    const actual = await host.sysctl.get(key);
    if (actual === undefined) push("kernel", key, `removed (declared ${JSON.stringify(value)})`);
    else if (actual !== value) {
      push("kernel", key, `${JSON.stringify(value)} -> ${JSON.stringify(actual)}`);
    }
  }
  const loaded = new Set((await host.modules.list()).map((m) => m.name));
  for (const name of declared.modules) {
    if (!loaded.has(name)) push("kernel", `module:${name}`, "removed (declared, not loaded)");
  }
  const mounts = new Map((await host.mounts.list()).map((m) => [m.mountPoint, m]));
  for (const mount of declared.mounts) {
    const actual = mounts.get(mount.path);
    const want = `${mount.spec?.fsType ?? ""}:${mount.spec?.source ?? ""}`;
    if (actual === undefined) push("mount", mount.path, `removed (declared ${want})`);
    else if (mount.spec !== undefined && `${actual.fsType}:${actual.source}` !== want) {
      push("mount", mount.path, `${JSON.stringify(want)} -> "${actual.fsType}:${actual.source}"`);
    }
  }
  return events;
}
