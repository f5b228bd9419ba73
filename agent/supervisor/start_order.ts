/**
 * Start order of a service set: dependencies first, then ascending `order`,
 * then name, so the same declarations always give the same sequence. Stop
 * order is its reverse.
 */
import { PactError } from "../../shared/errors/mod.ts";
import type { ServiceSpec } from "./service_spec.ts";

/** Names in start order. Unknown dependencies, duplicates and cycles are refused. */
export function startOrder(services: readonly ServiceSpec[]): string[] {
  const byName = new Map<string, ServiceSpec>();
  for (const service of services) {
    if (byName.has(service.name)) {
      throw new PactError(
        "INVALID_ARGUMENT",
        `Cannot order services: duplicate service ${service.name}`,
      );
    }
    byName.set(service.name, service);
  }
  for (const service of services) {
    for (const dep of service.dependsOn) {
      if (!byName.has(dep)) {
        throw new PactError(
          "INVALID_ARGUMENT",
          `Cannot order services: ${service.name} depends on unknown service ${dep}`,
        );
      }
    }
  }
  const rank = (a: ServiceSpec, b: ServiceSpec) =>
    a.order - b.order || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  // Kahn's algorithm, always taking the ready service with the lowest rank.
  const waitingOn = new Map(services.map((s) => [s.name, new Set(s.dependsOn)]));
  const result: string[] = [];
  while (result.length < services.length) {
    const ready = services.filter((s) =>
      !result.includes(s.name) && waitingOn.get(s.name)!.size === 0
    )
      .sort(rank);
    const next = ready[0];
    if (next === undefined) {
      throw new PactError(
        "INVALID_ARGUMENT",
        `Cannot order services: dependency cycle: ${findCycle(byName).join(" -> ")}`,
      );
    }
    result.push(next.name);
    for (const deps of waitingOn.values()) deps.delete(next.name);
  }
  return result;
}

/** One cycle among the services, as names with the first repeated at the end. */
function findCycle(byName: ReadonlyMap<string, ServiceSpec>): string[] {
  const done = new Set<string>();
  const visit = (name: string, path: string[]): string[] | undefined => {
    const at = path.indexOf(name);
    if (at >= 0) return [...path.slice(at), name];
    if (done.has(name)) return undefined;
    for (const dep of [...byName.get(name)!.dependsOn].sort()) {
      const cycle = visit(dep, [...path, name]);
      if (cycle) return cycle;
    }
    done.add(name);
    return undefined;
  };
  for (const name of [...byName.keys()].sort()) {
    const cycle = visit(name, []);
    if (cycle) return cycle;
  }
  return [];
}
