/**
 * The `pact apply` spec file: `[vcluster.<name>]` sections with overlay
 * tables (sysctl, modules, mounts, files, services, network, packages) and
 * an optional policy table, parsed and checked into DeclaredState and
 * VClusterPolicy values. Every problem is reported with its line.
 */
import { parse, TomlError } from "smol-toml";
import type {
  DeclaredState,
  FileDecl,
  HealthCheck,
  MountDecl,
  NetworkDecl,
  ServiceDecl,
  VClusterPolicy,
} from "../../shared/proto/gen/pact/config/config.ts";
import { isValidId } from "../../shared/domain/scope.ts";
import { SpecChecker, type SpecProblem, type Table } from "./spec_checker.ts";
import type { KeyPath } from "./toml_locator.ts";
import { checkPolicy } from "./spec_policy.ts";

/** What one `[vcluster.<name>]` section asks for. */
export interface VClusterSpec {
  readonly vclusterId: string;
  /** The overlay items to write; undefined when the section has only a policy. */
  readonly declared: DeclaredState | undefined;
  /** The policy to set (it replaces the current one); undefined when there is none. */
  readonly policy: VClusterPolicy | undefined;
}

/** A spec that parsed and passed every check. */
export interface ApplySpec {
  readonly vclusters: readonly VClusterSpec[];
}

/** The result of parsing: the spec, or every problem found. */
export type ParsedSpec =
  | { readonly ok: true; readonly spec: ApplySpec }
  | { readonly ok: false; readonly problems: readonly SpecProblem[] };

const SECTION_KEYS = [
  "base_image",
  "supervisor_backend",
  "sysctl",
  "modules",
  "mounts",
  "files",
  "services",
  "network",
  "packages",
  "policy",
] as const;
const SUPERVISOR_BACKENDS = ["pact", "systemd"] as const;
const MOUNT_KEYS = ["type", "source", "options", "read_only"] as const;
const FILE_KEYS = ["content_hash", "mode", "owner"] as const;
const NETWORK_KEYS = ["address", "gateway", "mtu"] as const;
const SERVICE_KEYS = [
  "name",
  "binary",
  "args",
  "restart",
  "restart_policy",
  "restart_delay_seconds",
  "depends_on",
  "order",
  "cgroup_memory_max",
  "cgroup_slice",
  "cgroup_cpu_weight",
  "health_check",
  "user",
  "env",
  "state",
] as const;
const RESTART_POLICIES = ["always", "on_failure", "never"] as const;
const HEALTH_CHECK_KEYS = ["type", "url", "port", "interval_seconds", "timeout_seconds"] as const;
const HEALTH_CHECK_TYPES = ["http", "tcp", "process"] as const;
const U32_MAX = 4_294_967_295;

/** Parses and checks a spec file's text. */
export function parseApplySpec(text: string): ParsedSpec {
  let document: Table;
  try {
    document = parse(text) as Table;
  } catch (err) {
    if (err instanceof TomlError) {
      const first = err.message.split("\n")[0]!.replace(/^Invalid TOML document: /, "");
      return { ok: false, problems: [{ line: err.line, message: `invalid TOML: ${first}` }] };
    }
    throw err;
  }
  const check = new SpecChecker(text);
  const vclusters = checkDocument(check, document);
  return check.problems.length > 0
    ? { ok: false, problems: [...check.problems].sort((a, b) => a.line - b.line) }
    : { ok: true, spec: { vclusters } };
}

function checkDocument(check: SpecChecker, document: Table): VClusterSpec[] {
  check.keys([], document, ["vcluster"]);
  if (document["vcluster"] === undefined) {
    check.problem([], "no [vcluster.<name>] section: nothing to apply");
    return [];
  }
  const sections = check.table(["vcluster"], document["vcluster"]);
  if (!sections) return [];
  const out: VClusterSpec[] = [];
  for (const [name, value] of Object.entries(sections)) {
    const path = ["vcluster", name];
    if (!isValidId(name)) {
      check.problem(
        path,
        `invalid vCluster name ${
          JSON.stringify(name)
        } (use 1-128 letters, digits, '.', '_' or '-')`,
      );
    }
    const section = check.table(path, value);
    if (section) out.push(checkSection(check, name, section));
  }
  return out;
}

function checkSection(check: SpecChecker, name: string, section: Table): VClusterSpec {
  const path = ["vcluster", name];
  check.keys(path, section, SECTION_KEYS);
  const at = (key: string) => [...path, key];
  const declared: DeclaredState = {
    sysctl: optional(section["sysctl"], (v) =>
      check.stringMap(
        at("sysctl"),
        v,
        ' (quote dotted names: "vm.nr_hugepages" = "1024")',
      )) ?? {},
    modules: optional(section["modules"], (v) => checkModules(check, at("modules"), v)) ?? [],
    mounts: optional(section["mounts"], (v) => entriesOf(check, at("mounts"), v, checkMount)) ?? [],
    files: optional(section["files"], (v) => entriesOf(check, at("files"), v, checkFile)) ?? [],
    services: optional(section["services"], (v) => checkServices(check, at("services"), v)) ?? [],
    network:
      optional(section["network"], (v) => entriesOf(check, at("network"), v, checkNetwork)) ??
        [],
    packages: optional(section["packages"], (v) => check.stringMap(at("packages"), v)) ?? {},
    baseImage: optional(section["base_image"], (v) => check.string(at("base_image"), v)) ?? "",
    supervisorBackend: optional(
      section["supervisor_backend"],
      (v) => check.choice(at("supervisor_backend"), v, SUPERVISOR_BACKENDS),
    ) ?? "",
  };
  const policy = optional(section["policy"], (v) => checkPolicy(check, at("policy"), v, name));
  const hasOverlay = SECTION_KEYS.some((key) => key !== "policy" && section[key] !== undefined);
  if (!hasOverlay && section["policy"] === undefined) {
    check.problem(path, `[vcluster.${name}] declares nothing`);
  }
  return { vclusterId: name, declared: hasOverlay ? declared : undefined, policy };
}

function optional<T>(value: unknown, read: (value: unknown) => T | undefined): T | undefined {
  return value === undefined ? undefined : read(value);
}

function checkModules(check: SpecChecker, path: KeyPath, value: unknown): string[] | undefined {
  const table = check.table(path, value);
  if (!table) return undefined;
  check.keys(path, table, ["load"]);
  return optional(table["load"], (v) => check.stringArray([...path, "load"], v));
}

/** Reads a table keyed by path or name with `read` for each entry. */
function entriesOf<T>(
  check: SpecChecker,
  path: KeyPath,
  value: unknown,
  read: (check: SpecChecker, path: KeyPath, key: string, value: unknown) => T | undefined,
): T[] | undefined {
  const table = check.table(path, value);
  if (!table) return undefined;
  return Object.entries(table).flatMap(([key, v]) => {
    const item = read(check, [...path, key], key, v);
    return item === undefined ? [] : [item];
  });
}

function checkMount(
  check: SpecChecker,
  path: KeyPath,
  mountPath: string,
  value: unknown,
): MountDecl | undefined {
  if (!mountPath.startsWith("/")) {
    check.problem(path, `mount point ${JSON.stringify(mountPath)} must be an absolute path`);
  }
  const table = check.table(path, value);
  if (!table) return undefined;
  check.keys(path, table, MOUNT_KEYS);
  const at = (key: string) => [...path, key];
  if (table["type"] === undefined) {
    check.problem(path, `mount ${mountPath} needs a type (e.g. nfs)`);
  }
  if (table["source"] === undefined) check.problem(path, `mount ${mountPath} needs a source`);
  return {
    path: mountPath,
    spec: {
      fsType: optional(table["type"], (v) => check.string(at("type"), v)) ?? "",
      source: optional(table["source"], (v) => check.string(at("source"), v)) ?? "",
      options: optional(table["options"], (v) => check.string(at("options"), v)) ?? "",
      readOnly: optional(table["read_only"], (v) => check.boolean(at("read_only"), v)) ?? false,
    },
  };
}

function checkFile(
  check: SpecChecker,
  path: KeyPath,
  filePath: string,
  value: unknown,
): FileDecl | undefined {
  if (!filePath.startsWith("/")) {
    check.problem(path, `file ${JSON.stringify(filePath)} must be an absolute path`);
  }
  const table = check.table(path, value);
  if (!table) return undefined;
  check.keys(path, table, FILE_KEYS);
  const at = (key: string) => [...path, key];
  const mode = optional(table["mode"], (v) => check.string(at("mode"), v)) ?? "";
  if (mode !== "" && !/^0?[0-7]{3,4}$/.test(mode)) {
    check.problem(at("mode"), `mode must be octal like "0644", got ${JSON.stringify(mode)}`);
  }
  return {
    path: filePath,
    contentHash: optional(table["content_hash"], (v) => check.string(at("content_hash"), v)) ?? "",
    mode,
    owner: optional(table["owner"], (v) => check.string(at("owner"), v)) ?? "",
    content: new Uint8Array(),
  };
}

function checkNetwork(
  check: SpecChecker,
  path: KeyPath,
  iface: string,
  value: unknown,
): NetworkDecl | undefined {
  if (typeof value === "string") return { interface: iface, address: value, gateway: "", mtu: 0 };
  const table = check.table(path, value);
  if (!table) return undefined;
  check.keys(path, table, NETWORK_KEYS);
  const at = (key: string) => [...path, key];
  return {
    interface: iface,
    address: optional(table["address"], (v) => check.string(at("address"), v)) ?? "",
    gateway: optional(table["gateway"], (v) => check.string(at("gateway"), v)) ?? "",
    mtu: optional(table["mtu"], (v) => check.integer(at("mtu"), v, 68, 65_535)) ?? 0,
  };
}

/** Services as a table keyed by name or as an array of tables with `name`. */
function checkServices(
  check: SpecChecker,
  path: KeyPath,
  value: unknown,
): ServiceDecl[] | undefined {
  if (Array.isArray(value)) {
    return value.flatMap((item, index) => {
      const itemPath = [...path, index];
      const table = check.table(itemPath, item);
      const name = table && optional(table["name"], (v) => check.string([...itemPath, "name"], v));
      if (table && table["name"] === undefined) check.problem(itemPath, "service needs a name");
      const service = table && name !== undefined
        ? checkService(check, itemPath, name, table)
        : undefined;
      return service ? [service] : [];
    });
  }
  return entriesOf(check, path, value, (c, p, name, v) => {
    const table = c.table(p, v);
    if (!table) return undefined;
    if (table["name"] !== undefined && table["name"] !== name) {
      c.problem(
        [...p, "name"],
        `service name ${JSON.stringify(table["name"])} differs from its table name ${
          JSON.stringify(name)
        }`,
      );
    }
    return checkService(c, p, name, table);
  });
}

function checkService(
  check: SpecChecker,
  path: KeyPath,
  name: string,
  table: Table,
): ServiceDecl | undefined {
  check.keys(path, table, SERVICE_KEYS);
  const at = (key: string) => [...path, key];
  if (!isValidId(name)) check.problem(path, `invalid service name ${JSON.stringify(name)}`);
  if (table["restart"] !== undefined && table["restart_policy"] !== undefined) {
    check.problem(at("restart"), "set restart or restart_policy, not both");
  }
  const state = optional(table["state"], (v) => check.choice(at("state"), v, ["running"]));
  void state; // Declared services always run; `state` only documents it.
  const memory =
    optional(table["cgroup_memory_max"], (v) => check.string(at("cgroup_memory_max"), v)) ??
      "";
  if (memory !== "" && !/^(\d+[KMGT]?|max)$/.test(memory)) {
    check.problem(
      at("cgroup_memory_max"),
      `cgroup_memory_max must be bytes with an optional K, M, G or T suffix, or "max"; got ${
        JSON.stringify(memory)
      }`,
    );
  }
  return {
    name,
    binary: optional(table["binary"], (v) => check.string(at("binary"), v)) ?? "",
    args: optional(table["args"], (v) => check.stringArray(at("args"), v)) ?? [],
    restartPolicy: optional(
      table["restart_policy"] ?? table["restart"],
      (v) =>
        check.choice(
          at(table["restart_policy"] !== undefined ? "restart_policy" : "restart"),
          v,
          RESTART_POLICIES,
        ),
    ) ?? "",
    restartDelaySeconds: optional(
      table["restart_delay_seconds"],
      (v) => check.integer(at("restart_delay_seconds"), v, 0, U32_MAX),
    ) ?? 0,
    dependsOn: optional(table["depends_on"], (v) => check.stringArray(at("depends_on"), v)) ?? [],
    order: optional(table["order"], (v) => check.integer(at("order"), v, -1_000_000, 1_000_000)) ??
      0,
    cgroupMemoryMax: memory,
    cgroupSlice: optional(table["cgroup_slice"], (v) => check.string(at("cgroup_slice"), v)) ?? "",
    cgroupCpuWeight: optional(
      table["cgroup_cpu_weight"],
      (v) => check.integer(at("cgroup_cpu_weight"), v, 1, 10_000),
    ) ?? 0,
    healthCheck: optional(table["health_check"], (v) => checkHealth(check, at("health_check"), v)),
    user: optional(table["user"], (v) => check.string(at("user"), v)) ?? "",
    env: optional(table["env"], (v) => check.stringMap(at("env"), v)) ?? {},
  };
}

function checkHealth(check: SpecChecker, path: KeyPath, value: unknown): HealthCheck | undefined {
  const table = check.table(path, value);
  if (!table) return undefined;
  check.keys(path, table, HEALTH_CHECK_KEYS);
  const at = (key: string) => [...path, key];
  return {
    type: optional(table["type"], (v) => check.choice(at("type"), v, HEALTH_CHECK_TYPES)) ??
      "process",
    url: optional(table["url"], (v) => check.string(at("url"), v)) ?? "",
    port: optional(table["port"], (v) => check.integer(at("port"), v, 1, 65_535)) ?? 0,
    intervalSeconds: optional(
      table["interval_seconds"],
      (v) => check.integer(at("interval_seconds"), v, 1, 86_400),
    ) ?? 0,
    timeoutSeconds: optional(
      table["timeout_seconds"],
      (v) => check.integer(at("timeout_seconds"), v, 1, 86_400),
    ) ?? 0,
  };
}
