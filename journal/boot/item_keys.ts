/**
 * Names for the individual items of declared state and of state deltas, so
 * that an overlay change and a node delta can be compared item by item: a
 * node's committed `sysctl:vm.nr_hugepages` is superseded when its vCluster's
 * overlay later declares `sysctl:vm.nr_hugepages` again.
 */
import type {
  DeclaredState,
  KernelDelta,
  StateDelta,
} from "../../shared/proto/gen/pact/config/config.ts";

/** Prefix of kernel-delta keys that name a kernel module rather than a sysctl. */
export const MODULE_KEY_PREFIX = "module:";

/** The item key of each dimension's item. */
export const itemKey = {
  sysctl: (key: string) => `sysctl:${key}`,
  module: (name: string) => `module:${name}`,
  mount: (path: string) => `mount:${path}`,
  file: (path: string) => `file:${path}`,
  service: (name: string) => `service:${name}`,
  network: (iface: string) => `network:${iface}`,
  package: (name: string) => `package:${name}`,
  baseImage: () => "base_image",
  supervisorBackend: () => "supervisor_backend",
} as const;

/** The item key of a kernel delta: a module (`module:<name>`) or a sysctl. */
export function kernelItemKey(delta: Pick<KernelDelta, "key">): string {
  return delta.key.startsWith(MODULE_KEY_PREFIX)
    ? itemKey.module(delta.key.slice(MODULE_KEY_PREFIX.length))
    : itemKey.sysctl(delta.key);
}

/** Every item key `declared` sets. */
export function declaredItemKeys(declared: DeclaredState): string[] {
  return [
    ...Object.keys(declared.sysctl).map(itemKey.sysctl),
    ...declared.modules.map(itemKey.module),
    ...declared.mounts.map((m) => itemKey.mount(m.path)),
    ...declared.files.map((f) => itemKey.file(f.path)),
    ...declared.services.map((s) => itemKey.service(s.name)),
    ...declared.network.map((n) => itemKey.network(n.interface)),
    ...Object.keys(declared.packages).map(itemKey.package),
    ...(declared.baseImage !== "" ? [itemKey.baseImage()] : []),
    ...(declared.supervisorBackend !== "" ? [itemKey.supervisorBackend()] : []),
  ];
}

/** Every item key `delta` touches (GPU items have no overlay counterpart and no key). */
export function stateDeltaItemKeys(delta: StateDelta): string[] {
  return [
    ...delta.kernel.map(kernelItemKey),
    ...delta.mounts.map((m) => itemKey.mount(m.path)),
    ...delta.files.map((f) => itemKey.file(f.path)),
    ...delta.services.map((s) => itemKey.service(s.name)),
    ...delta.network.map((n) => itemKey.network(n.interface)),
    ...delta.packages.map((p) => itemKey.package(p.name)),
  ];
}

/** `declared` without the items whose key fails `keep`. */
export function filterDeclared(
  declared: DeclaredState,
  keep: (key: string) => boolean,
): DeclaredState {
  const pick = (map: Record<string, string>, key: (k: string) => string) =>
    Object.fromEntries(Object.entries(map).filter(([k]) => keep(key(k))));
  return {
    sysctl: pick(declared.sysctl, itemKey.sysctl),
    modules: declared.modules.filter((m) => keep(itemKey.module(m))),
    mounts: declared.mounts.filter((m) => keep(itemKey.mount(m.path))),
    files: declared.files.filter((f) => keep(itemKey.file(f.path))),
    services: declared.services.filter((s) => keep(itemKey.service(s.name))),
    network: declared.network.filter((n) => keep(itemKey.network(n.interface))),
    packages: pick(declared.packages, itemKey.package),
    baseImage: keep(itemKey.baseImage()) ? declared.baseImage : "",
    supervisorBackend: keep(itemKey.supervisorBackend()) ? declared.supervisorBackend : "",
  };
}

/** `delta` without the items whose key fails `keep`; GPU items are always kept. */
export function filterStateDelta(delta: StateDelta, keep: (key: string) => boolean): StateDelta {
  return {
    kernel: delta.kernel.filter((k) => keep(kernelItemKey(k))),
    mounts: delta.mounts.filter((m) => keep(itemKey.mount(m.path))),
    files: delta.files.filter((f) => keep(itemKey.file(f.path))),
    services: delta.services.filter((s) => keep(itemKey.service(s.name))),
    network: delta.network.filter((n) => keep(itemKey.network(n.interface))),
    packages: delta.packages.filter((p) => keep(itemKey.package(p.name))),
    gpu: delta.gpu,
  };
}

/** True when `delta` changes nothing. */
export function isEmptyStateDelta(delta: StateDelta): boolean {
  return stateDeltaItemKeys(delta).length === 0 && delta.gpu.length === 0;
}

/** True when `declared` declares nothing. */
export function isEmptyDeclared(declared: DeclaredState): boolean {
  return declaredItemKeys(declared).length === 0;
}
