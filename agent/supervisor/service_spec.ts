/**
 * A service declaration parsed once at the edge into a narrow, checked type:
 * the supervisor and the systemd unit writer never see raw protobuf strings.
 */
import { PactError } from "../../shared/errors/mod.ts";
import type { ServiceDecl } from "../../shared/proto/gen/pact/config/config.ts";

/** What happens when a service's process exits by itself. */
export type RestartPolicy = "always" | "on_failure" | "never";

/** How the supervisor decides a running service is healthy. */
export type HealthCheckSpec =
  | { kind: "process"; intervalMs: number; timeoutMs: number }
  | { kind: "http"; url: string; intervalMs: number; timeoutMs: number }
  | { kind: "tcp"; port: number; intervalMs: number; timeoutMs: number };

/** A checked service declaration. */
export interface ServiceSpec {
  readonly name: string;
  readonly binary: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly restartPolicy: RestartPolicy;
  /** Base restart delay; the backoff doubles it per consecutive crash. */
  readonly restartDelayMs: number;
  readonly dependsOn: readonly string[];
  readonly order: number;
  /** memory.max in bytes; undefined means no limit. */
  readonly memoryMaxBytes: number | undefined;
  /** cgroup v2 cpu.weight, 1–10000. */
  readonly cpuWeight: number;
  /** Slice path below the cgroup root, e.g. `pact.slice/infra.slice`. */
  readonly slice: string;
  readonly healthCheck: HealthCheckSpec | undefined;
  /** Unix user to run as; empty means the agent's own user. */
  readonly user: string;
}

/** Default slice of a service that names none (reference §2.13). */
export const DEFAULT_SLICE = "pact.slice/infra.slice";
/** Default cgroup v2 cpu.weight. */
export const DEFAULT_CPU_WEIGHT = 100;
/** Restart delay used when a declaration says 0. */
export const DEFAULT_RESTART_DELAY_MS = 1_000;
const DEFAULT_HEALTH_INTERVAL_MS = 10_000;
const DEFAULT_HEALTH_TIMEOUT_MS = 2_000;

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$/;
const SLICE_PART = /^[A-Za-z0-9][A-Za-z0-9_-]*\.slice$/;
const MEMORY = /^(\d+)\s*([KMGT]?)$/i;
const UNITS: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** Parses `512M`, `1G`, `4096` (K/M/G/T are powers of 1024); `""` and `max` mean no limit. */
export function parseMemoryMax(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === "" || trimmed === "max") return undefined;
  const match = MEMORY.exec(trimmed);
  if (!match) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Cannot parse memory limit: expected a number with an optional K/M/G/T suffix, got ${
        JSON.stringify(text)
      }`,
    );
  }
  const bytes = Number(match[1]) * UNITS[match[2]!.toUpperCase()]!;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new PactError("INVALID_ARGUMENT", `Cannot use memory limit: out of range: ${text}`);
  }
  return bytes;
}

/** Checks a slice path: one or more `name.slice` parts joined by `/`. */
export function parseSlice(text: string): string {
  const slice = text.trim() === "" ? DEFAULT_SLICE : text.trim();
  if (!slice.split("/").every((part) => SLICE_PART.test(part))) {
    throw new PactError("INVALID_ARGUMENT", `Cannot use cgroup slice: invalid path: ${slice}`);
  }
  return slice;
}

/** Parses one ServiceDecl; every problem is one line naming the service. */
export function parseServiceDecl(decl: ServiceDecl): ServiceSpec {
  const name = decl.name;
  if (!NAME.test(name)) {
    throw new PactError("INVALID_ARGUMENT", `Cannot declare service: invalid name: ${name}`);
  }
  const fail = (what: string): never => {
    throw new PactError("INVALID_ARGUMENT", `Cannot declare service ${name}: ${what}`);
  };
  if (decl.binary.trim() === "") fail("binary is empty");
  const restartPolicy = parseRestartPolicy(decl.restartPolicy, fail);
  const cpuWeight = decl.cgroupCpuWeight === 0 ? DEFAULT_CPU_WEIGHT : decl.cgroupCpuWeight;
  if (cpuWeight < 1 || cpuWeight > 10_000) fail(`cpu weight must be 1-10000, got ${cpuWeight}`);
  for (const dep of decl.dependsOn) if (dep === name) fail("it depends on itself");
  try {
    return {
      name,
      binary: decl.binary,
      args: [...decl.args],
      env: { ...decl.env },
      restartPolicy,
      restartDelayMs: decl.restartDelaySeconds > 0
        ? decl.restartDelaySeconds * 1000
        : DEFAULT_RESTART_DELAY_MS,
      dependsOn: [...decl.dependsOn],
      order: decl.order,
      memoryMaxBytes: parseMemoryMax(decl.cgroupMemoryMax),
      cpuWeight,
      slice: parseSlice(decl.cgroupSlice),
      healthCheck: parseHealthCheck(decl, fail),
      user: decl.user,
    };
  } catch (err) {
    if (err instanceof PactError && !err.message.includes(`service ${name}`)) {
      fail(err.message.charAt(0).toLowerCase() + err.message.slice(1));
    }
    throw err;
  }
}

function parseRestartPolicy(text: string, fail: (what: string) => never): RestartPolicy {
  const policy = text.trim().toLowerCase().replaceAll("-", "_");
  if (policy === "") return "always";
  if (policy === "always" || policy === "on_failure" || policy === "never") return policy;
  return fail(`unknown restart policy: ${JSON.stringify(text)}`);
}

function parseHealthCheck(
  decl: ServiceDecl,
  fail: (what: string) => never,
): HealthCheckSpec | undefined {
  const check = decl.healthCheck;
  if (check === undefined || check.type === "") return undefined;
  const intervalMs = check.intervalSeconds > 0
    ? check.intervalSeconds * 1000
    : DEFAULT_HEALTH_INTERVAL_MS;
  const timeoutMs = check.timeoutSeconds > 0
    ? check.timeoutSeconds * 1000
    : DEFAULT_HEALTH_TIMEOUT_MS;
  switch (check.type.toLowerCase()) {
    case "process":
      return { kind: "process", intervalMs, timeoutMs };
    case "http":
      if (!/^https?:\/\//.test(check.url)) fail(`http health check needs an http(s) URL`);
      return { kind: "http", url: check.url, intervalMs, timeoutMs };
    case "tcp":
      if (check.port < 1 || check.port > 65535) fail(`tcp health check needs a port 1-65535`);
      return { kind: "tcp", port: check.port, intervalMs, timeoutMs };
    default:
      return fail(`unknown health check type: ${JSON.stringify(check.type)}`);
  }
}
