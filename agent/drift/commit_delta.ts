/**
 * What `pact commit` records: the StateDelta of the node's drift, read
 * from the host at commit time, so that the Commit entry says what the
 * node's declared state becomes (reference §2.5: "Commit records a Commit
 * entry with the state delta"). The journal folds it into the node delta
 * that every boot re-applies (phase 2), `pact diff --committed` lists it
 * and `pact promote` renders it; the agent accepts the keys it names.
 *
 * Each item carries the accepted value both as declared and as actual
 * (the overlay fold reads the declared side, `pact diff --committed` and
 * promote the actual side). A key gone from the host is a REMOVE.
 */
import {
  type DeclaredState,
  DeltaAction,
  StateDelta,
} from "../../shared/proto/gen/pact/config/config.ts";
import type { Host, MountEntry } from "../host/host.ts";
import { declaredHash } from "./declared.ts";
import type { DriftItem } from "./evaluator_types.ts";

const MODULE_PREFIX = "module:";

/** The StateDelta accepting `items` as they are on `host` now. */
export async function committedDelta(
  host: Host,
  declared: DeclaredState | undefined,
  items: readonly DriftItem[],
): Promise<StateDelta> {
  const delta = StateDelta.create();
  const lists = new Lists(host);
  for (const item of items) {
    switch (item.dimension) {
      case "kernel": {
        if (item.key.startsWith(MODULE_PREFIX)) {
          const name = item.key.slice(MODULE_PREFIX.length);
          const loaded = (await lists.modules()).has(name);
          const value = loaded ? "loaded" : "";
          delta.kernel.push({
            key: item.key,
            action: loaded ? DeltaAction.ADD : DeltaAction.REMOVE,
            declaredValue: value,
            actualValue: value,
          });
          break;
        }
        const value = await host.sysctl.get(item.key).catch(() => undefined);
        delta.kernel.push({
          key: item.key,
          action: value === undefined
            ? DeltaAction.REMOVE
            : declared?.sysctl[item.key] === undefined
            ? DeltaAction.ADD
            : DeltaAction.MODIFY,
          declaredValue: value ?? "",
          actualValue: value ?? "",
        });
        break;
      }
      case "files": {
        const hash = await host.files.hash(item.key).catch(() => undefined);
        const decl = declared?.files.find((f) => f.path === item.key);
        const previous = decl === undefined ? undefined : declaredHash(decl);
        delta.files.push({
          path: item.key,
          action: hash === undefined
            ? DeltaAction.REMOVE
            : decl === undefined
            ? DeltaAction.ADD
            : DeltaAction.MODIFY,
          contentHash: hash === undefined ? "" : `sha256:${hash}`,
          mode: decl?.mode ?? "",
          owner: decl?.owner ?? "",
          previousHash: previous === undefined ? "" : `sha256:${previous}`,
        });
        break;
      }
      case "mounts": {
        const mount = (await lists.mounts()).get(item.key);
        const spec = mount === undefined ? undefined : {
          fsType: mount.fsType,
          source: mount.source,
          options: mount.options,
          readOnly: mount.readOnly,
        };
        const isDeclared = declared?.mounts.some((m) => m.path === item.key) ?? false;
        delta.mounts.push({
          path: item.key,
          action: mount === undefined
            ? DeltaAction.REMOVE
            : isDeclared
            ? DeltaAction.MODIFY
            : DeltaAction.ADD,
          declared: spec,
          actual: spec,
        });
        break;
      }
      case "services": {
        const state = (await lists.services()).get(item.key);
        delta.services.push({
          name: item.key,
          action: state === undefined ? DeltaAction.REMOVE : DeltaAction.MODIFY,
          declaredState: state ?? "",
          actualState: state ?? "",
        });
        break;
      }
      case "network": {
        const link = (await lists.links()).get(item.key);
        delta.network.push({
          interface: item.key,
          action: link === undefined ? DeltaAction.REMOVE : DeltaAction.MODIFY,
          detail: link === undefined ? "" : link.addresses[0] ?? "",
          previous: declared?.network.find((n) => n.interface === item.key)?.address ?? "",
        });
        break;
      }
      case "packages": {
        const version = (await lists.packages()).get(item.key);
        delta.packages.push({
          name: item.key,
          action: version === undefined ? DeltaAction.REMOVE : DeltaAction.MODIFY,
          version: version ?? "",
          previousVersion: declared?.packages[item.key] ?? "",
        });
        break;
      }
      case "gpu":
        delta.gpu.push({
          gpuIndex: Number(item.key) || 0,
          action: DeltaAction.MODIFY,
          detail: item.detail,
        });
        break;
    }
  }
  return delta;
}

/**
 * The drift keys (`dimension:key`, as the evaluator names them) a
 * StateDelta covers: what a Commit entry accepts.
 */
export function driftKeysOf(delta: StateDelta): string[] {
  return [
    ...delta.kernel.map((k) => `kernel:${k.key}`),
    ...delta.files.map((f) => `files:${f.path}`),
    ...delta.mounts.map((m) => `mounts:${m.path}`),
    ...delta.services.map((s) => `services:${s.name}`),
    ...delta.network.map((n) => `network:${n.interface}`),
    ...delta.packages.map((p) => `packages:${p.name}`),
    ...delta.gpu.map((g) => `gpu:${g.gpuIndex}`),
  ];
}

/** Host listings read at most once per commit. */
class Lists {
  readonly #host: Host;
  #mounts: Promise<Map<string, MountEntry>> | undefined;
  #modules: Promise<Set<string>> | undefined;
  #services: Promise<Map<string, string>> | undefined;
  #links: Promise<Map<string, { addresses: readonly string[] }>> | undefined;
  #packages: Promise<Map<string, string>> | undefined;

  constructor(host: Host) {
    this.#host = host;
  }

  mounts() {
    return this.#mounts ??= this.#host.mounts.list().catch(() => [])
      .then((list) => new Map(list.map((m) => [m.mountPoint, m])));
  }

  modules() {
    return this.#modules ??= this.#host.modules.list().catch(() => [])
      .then((list) => new Set(list.map((m) => m.name)));
  }

  services() {
    return this.#services ??= this.#host.services.list().catch(() => [])
      .then((list) => new Map(list.map((s) => [s.name, s.state])));
  }

  links() {
    return this.#links ??= this.#host.network.links().catch(() => [])
      .then((list) => new Map(list.map((l) => [l.name, l])));
  }

  packages() {
    return this.#packages ??= this.#host.packages.list().catch(() => [])
      .then((list) => new Map(list.map((p) => [p.name, p.version])));
  }
}
