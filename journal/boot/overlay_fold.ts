/**
 * Folds a vCluster's overlay entries, oldest first, into its declared state.
 * Pure and deterministic: the same entries give the same canonical
 * DeclaredState (maps and lists sorted) on every replica.
 *
 * - COMMIT / ROLLBACK with a `declared` payload: upserts each item (a mount,
 *   file, service or interface is replaced as a whole; modules are added).
 * - COMMIT / ROLLBACK with a `stateDelta` payload: ADD/MODIFY set the item,
 *   REMOVE deletes it. GPU items have no overlay counterpart and are ignored.
 * - OVERLAY_UPDATE: replaces the whole declared state with the one it carries.
 */
import {
  type BootOverlay,
  type ConfigEntry,
  type DeclaredState,
  DeltaAction,
  EntryType,
  type FileDecl,
  type MountDecl,
  type NetworkDecl,
  type ServiceDecl,
  type StateDelta,
} from "../../shared/proto/gen/pact/config/config.ts";
import { declaredItemKeys, itemKey, kernelItemKey, MODULE_KEY_PREFIX } from "./item_keys.ts";

/** Entry types that can change a vCluster's overlay. */
export const OVERLAY_ENTRY_TYPES: readonly EntryType[] = [
  EntryType.COMMIT,
  EntryType.ROLLBACK,
  EntryType.OVERLAY_UPDATE,
];

/** A vCluster's declared state after its overlay entries. */
export interface FoldedOverlay {
  /** Canonical: sorted maps and lists. */
  readonly declared: DeclaredState;
  /** Sequence of the latest entry folded; undefined when there was none. */
  readonly version: number | undefined;
  /** Per item key: sequence of the latest entry that set or removed the item. */
  readonly keySequences: ReadonlyMap<string, number>;
}

/** Decodes the DeclaredState an OVERLAY_UPDATE carries; throws when it cannot. */
export type OverlayDecoder = (overlay: BootOverlay) => DeclaredState;

/** Accumulates overlay entries; `result()` gives the canonical state. */
export class OverlayFold {
  readonly #decode: OverlayDecoder;
  readonly #keySequences = new Map<string, number>();
  #sysctl = new Map<string, string>();
  #modules = new Set<string>();
  #mounts = new Map<string, MountDecl>();
  #files = new Map<string, FileDecl>();
  #services = new Map<string, ServiceDecl>();
  #network = new Map<string, NetworkDecl>();
  #packages = new Map<string, string>();
  #baseImage = "";
  #supervisorBackend = "";
  #version: number | undefined;
  /** Entries whose payload could not be decoded and were skipped. */
  readonly skipped: { sequence: number; reason: string }[] = [];

  constructor(decode: OverlayDecoder) {
    this.#decode = decode;
  }

  /** Folds one entry; entries must come in sequence order. */
  apply(entry: ConfigEntry): void {
    if (!OVERLAY_ENTRY_TYPES.includes(entry.entryType)) return;
    this.#version = Math.max(this.#version ?? -1, entry.sequence);
    const payload = entry.payload;
    if (entry.entryType === EntryType.OVERLAY_UPDATE && payload?.$case === "overlay") {
      let declared: DeclaredState;
      try {
        declared = this.#decode(payload.value);
      } catch (err) {
        this.skipped.push({ sequence: entry.sequence, reason: (err as Error).message });
        return;
      }
      this.#replace(declared, entry.sequence);
    } else if (payload?.$case === "declared") {
      this.#upsert(payload.value, entry.sequence);
    } else if (payload?.$case === "stateDelta") {
      this.#applyDelta(payload.value, entry.sequence);
    }
  }

  /** The canonical declared state so far. */
  result(): FoldedOverlay {
    const byKey = <T>(map: Map<string, T>) =>
      [...map.entries()].sort(compareKeys).map(([, v]) => v);
    const sortedRecord = (map: Map<string, string>) =>
      Object.fromEntries([...map.entries()].sort(compareKeys));
    return {
      declared: {
        sysctl: sortedRecord(this.#sysctl),
        modules: [...this.#modules].sort(compareStrings),
        mounts: byKey(this.#mounts),
        files: byKey(this.#files),
        services: byKey(this.#services).map(canonicalService),
        network: byKey(this.#network),
        packages: sortedRecord(this.#packages),
        baseImage: this.#baseImage,
        supervisorBackend: this.#supervisorBackend,
      },
      version: this.#version,
      keySequences: new Map(this.#keySequences),
    };
  }

  #touch(key: string, sequence: number): void {
    this.#keySequences.set(key, sequence);
  }

  #replace(declared: DeclaredState, sequence: number): void {
    for (const key of declaredItemKeys(this.result().declared)) this.#touch(key, sequence);
    this.#sysctl = new Map();
    this.#modules = new Set();
    this.#mounts = new Map();
    this.#files = new Map();
    this.#services = new Map();
    this.#network = new Map();
    this.#packages = new Map();
    this.#baseImage = "";
    this.#supervisorBackend = "";
    this.#upsert(declared, sequence);
  }

  #upsert(declared: DeclaredState, sequence: number): void {
    for (const [key, value] of Object.entries(declared.sysctl)) this.#sysctl.set(key, value);
    for (const name of declared.modules) this.#modules.add(name);
    for (const mount of declared.mounts) this.#mounts.set(mount.path, mount);
    for (const file of declared.files) this.#files.set(file.path, file);
    for (const service of declared.services) this.#services.set(service.name, service);
    for (const net of declared.network) this.#network.set(net.interface, net);
    for (const [name, version] of Object.entries(declared.packages)) {
      this.#packages.set(name, version);
    }
    if (declared.baseImage !== "") this.#baseImage = declared.baseImage;
    if (declared.supervisorBackend !== "") this.#supervisorBackend = declared.supervisorBackend;
    for (const key of declaredItemKeys(declared)) this.#touch(key, sequence);
  }

  #applyDelta(delta: StateDelta, sequence: number): void {
    for (const k of delta.kernel) {
      if (k.key.startsWith(MODULE_KEY_PREFIX)) {
        const name = k.key.slice(MODULE_KEY_PREFIX.length);
        if (removes(k.action)) this.#modules.delete(name);
        else this.#modules.add(name);
      } else if (removes(k.action)) this.#sysctl.delete(k.key);
      else this.#sysctl.set(k.key, k.declaredValue);
      this.#touch(kernelItemKey(k), sequence);
    }
    for (const m of delta.mounts) {
      setOrDelete(this.#mounts, m.path, m.action, () => ({ path: m.path, spec: m.declared }));
      this.#touch(itemKey.mount(m.path), sequence);
    }
    for (const f of delta.files) {
      setOrDelete(this.#files, f.path, f.action, () => ({
        path: f.path,
        contentHash: f.contentHash,
        mode: f.mode,
        owner: f.owner,
        content: new Uint8Array(),
      }));
      this.#touch(itemKey.file(f.path), sequence);
    }
    for (const s of delta.services) {
      const existing = this.#services.get(s.name);
      setOrDelete(this.#services, s.name, s.action, () => existing ?? emptyService(s.name));
      this.#touch(itemKey.service(s.name), sequence);
    }
    for (const n of delta.network) {
      const existing = this.#network.get(n.interface);
      setOrDelete(this.#network, n.interface, n.action, () => ({
        interface: n.interface,
        address: n.detail,
        gateway: existing?.gateway ?? "",
        mtu: existing?.mtu ?? 0,
      }));
      this.#touch(itemKey.network(n.interface), sequence);
    }
    for (const p of delta.packages) {
      setOrDelete(this.#packages, p.name, p.action, () => p.version);
      this.#touch(itemKey.package(p.name), sequence);
    }
  }
}

/** Folds `entries` (oldest first) in one go. */
export function foldOverlay(
  entries: Iterable<ConfigEntry>,
  decode: OverlayDecoder,
): FoldedOverlay {
  const fold = new OverlayFold(decode);
  for (const entry of entries) fold.apply(entry);
  return fold.result();
}

function removes(action: DeltaAction): boolean {
  return action === DeltaAction.REMOVE;
}

function setOrDelete<T>(map: Map<string, T>, key: string, action: DeltaAction, value: () => T) {
  if (removes(action)) map.delete(key);
  else map.set(key, value());
}

function emptyService(name: string): ServiceDecl {
  return {
    name,
    binary: "",
    args: [],
    restartPolicy: "",
    restartDelaySeconds: 0,
    dependsOn: [],
    order: 0,
    cgroupMemoryMax: "",
    cgroupSlice: "",
    cgroupCpuWeight: 0,
    healthCheck: undefined,
    user: "",
    env: {},
  };
}

/** Sorts a service's env map; argument and dependency order are meaningful and kept. */
function canonicalService(service: ServiceDecl): ServiceDecl {
  return { ...service, env: Object.fromEntries(Object.entries(service.env).sort(compareKeys)) };
}

/** Code-unit order: the same on every replica, independent of locale. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareKeys(a: [string, unknown], b: [string, unknown]): number {
  return compareStrings(a[0], b[0]);
}
