/**
 * A real etcd cluster (1 or 3 members) on loopback for tests: free ports,
 * one temporary data directory per member, logs kept in files and shown
 * when something fails.
 */

/** The flags pact's managed etcd member runs with (see journal/store/etcd_store.ts). */
export const ETCD_TEST_FLAGS = ["--max-txn-ops=1024", "--max-request-bytes=8388608"] as const;

/** The `etcd` executable on PATH, or undefined (tests then skip). */
export function etcdOnPath(): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    try {
      const info = Deno.statSync(`${dir}/etcd`);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return `${dir}/etcd`;
    } catch { /* not in this directory */ }
  }
  return undefined;
}

/** Says why etcd tests are skipped, once per file; returns true when they must be. */
export function skipWithoutEtcd(file: string): boolean {
  if (etcdOnPath() !== undefined) return false;
  console.warn(`${file}: skipped: etcd is not on PATH (apt-get install etcd-server)`);
  return true;
}

/** Options of `EtcdCluster.start`. */
export interface EtcdClusterOptions {
  /** Number of members: 1 or 3 (default 1). */
  readonly members?: 1 | 3;
  /** Extra flags for every member. */
  readonly args?: readonly string[];
  /** How long to wait for the cluster to become healthy (default 20 s). */
  readonly timeoutMs?: number;
  /**
   * Serve clients over TLS with these PEM files and require client
   * certificates signed by `caFile` (peers stay on plain HTTP).
   */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
}

/** One member's fixed addresses and files. */
export interface EtcdMemberInfo {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  /** Plain-HTTP `/health` and `/metrics`, also when clients need TLS. */
  readonly metricsUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
}

const LOG_TAIL_LINES = 60;

/**
 * A running etcd cluster. Members are numbered from 0. `stop()` (or
 * `await using`) kills every member and removes the data directories.
 */
export class EtcdCluster implements AsyncDisposable {
  readonly members: readonly EtcdMemberInfo[];
  readonly #binary: string;
  readonly #argsFor: (member: number) => string[];
  readonly #children: (Deno.ChildProcess | undefined)[];
  readonly #tempDir: string;
  readonly #timeoutMs: number;
  #stopped = false;

  private constructor(
    binary: string,
    members: EtcdMemberInfo[],
    argsFor: (member: number) => string[],
    tempDir: string,
    timeoutMs: number,
  ) {
    this.#binary = binary;
    this.members = members;
    this.#argsFor = argsFor;
    this.#children = members.map(() => undefined);
    this.#tempDir = tempDir;
    this.#timeoutMs = timeoutMs;
  }

  /** Starts every member and waits until each reports healthy. */
  static async start(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
    const binary = etcdOnPath();
    if (binary === undefined) throw new Error("Cannot start etcd: etcd is not on PATH");
    const count = options.members ?? 1;
    const tempDir = await Deno.makeTempDir({ prefix: "pact-test-etcd-" });
    const ports = freePorts(count * 3);
    const scheme = options.tls === undefined ? "http" : "https";
    const members = Array.from({ length: count }, (_, i): EtcdMemberInfo => ({
      name: `m${i}`,
      clientUrl: `${scheme}://127.0.0.1:${ports[3 * i]}`,
      peerUrl: `http://127.0.0.1:${ports[3 * i + 1]}`,
      metricsUrl: `http://127.0.0.1:${ports[3 * i + 2]}`,
      dataDir: `${tempDir}/m${i}`,
      logFile: `${tempDir}/m${i}.log`,
    }));
    const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
    const token = `pact-test-${crypto.randomUUID()}`;
    const tls = options.tls;
    const argsFor = (i: number): string[] => {
      const m = members[i]!;
      return [
        `--name=${m.name}`,
        `--data-dir=${m.dataDir}`,
        `--listen-client-urls=${m.clientUrl}`,
        `--advertise-client-urls=${m.clientUrl}`,
        `--listen-peer-urls=${m.peerUrl}`,
        `--initial-advertise-peer-urls=${m.peerUrl}`,
        `--listen-metrics-urls=${m.metricsUrl}`,
        `--initial-cluster=${initialCluster}`,
        `--initial-cluster-token=${token}`,
        "--initial-cluster-state=new",
        "--logger=zap",
        "--log-outputs=stderr",
        ...ETCD_TEST_FLAGS,
        ...(tls === undefined ? [] : [
          `--cert-file=${tls.certFile}`,
          `--key-file=${tls.keyFile}`,
          `--trusted-ca-file=${tls.caFile}`,
          "--client-cert-auth",
        ]),
        ...(options.args ?? []),
      ];
    };
    const cluster = new EtcdCluster(binary, members, argsFor, tempDir, options.timeoutMs ?? 20_000);
    try {
      for (let i = 0; i < count; i++) cluster.#spawn(i);
      await cluster.waitHealthy();
      return cluster;
    } catch (err) {
      const logs = await cluster.#logTails();
      await cluster.stop();
      throw new Error(`${err instanceof Error ? err.message : err}\n${logs}`, { cause: err });
    }
  }

  /** Client URLs of every member, in member order. */
  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  /** Client URL of one member. */
  endpoint(member: number): string {
    return this.#member(member).clientUrl;
  }

  /** True while the member's process runs. */
  isRunning(member: number): boolean {
    return this.#children[member] !== undefined;
  }

  /** Signals one member (SIGKILL by default) and waits for it to exit. */
  async kill(member: number, signal: Deno.Signal = "SIGKILL"): Promise<void> {
    this.#member(member);
    const child = this.#children[member];
    if (child === undefined) return;
    try {
      child.kill(signal);
    } catch { /* already gone */ }
    await child.status;
    this.#children[member] = undefined;
  }

  /** Starts a killed member again over its data directory and waits until it is healthy. */
  async restart(member: number): Promise<void> {
    await this.kill(member, "SIGKILL");
    this.#spawn(member);
    await this.waitHealthy([member]);
  }

  /**
   * The index of the member that leads, once exactly one running member
   * says it does (polls each member's `/metrics`).
   */
  async leader(timeoutMs = this.#timeoutMs): Promise<number> {
    const giveUpAt = Date.now() + timeoutMs;
    while (true) {
      const leaders: number[] = [];
      for (let i = 0; i < this.members.length; i++) {
        if (this.isRunning(i) && await this.#isLeader(i)) leaders.push(i);
      }
      if (leaders.length === 1) return leaders[0]!;
      if (Date.now() > giveUpAt) {
        throw new Error(`etcd has no single leader after ${timeoutMs} ms (saw ${leaders.length})`);
      }
      await delay(100);
    }
  }

  /** Waits until each of `members` (default: all running) answers `/health` with true. */
  async waitHealthy(members?: readonly number[]): Promise<void> {
    const wanted = members ?? this.members.map((_, i) => i).filter((i) => this.isRunning(i));
    const giveUpAt = Date.now() + this.#timeoutMs;
    for (const i of wanted) {
      while (!(await this.#healthy(i))) {
        if (!this.isRunning(i)) throw new Error(`etcd member ${i} is not running`);
        if (Date.now() > giveUpAt) {
          throw new Error(`etcd member ${i} not healthy after ${this.#timeoutMs} ms`);
        }
        await delay(100);
      }
    }
  }

  /** The last lines member `member` logged. */
  async log(member: number): Promise<string> {
    const text = await Deno.readTextFile(this.#member(member).logFile).catch(() => "");
    return text.split("\n").slice(-LOG_TAIL_LINES).join("\n");
  }

  /** Kills every member and removes the data directories. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (let i = 0; i < this.members.length; i++) await this.kill(i);
    await Deno.remove(this.#tempDir, { recursive: true }).catch(() => {});
  }

  /**
   * Synchronous last resort for `unload` handlers: kills the members
   * without waiting and removes the data directories.
   */
  stopNow(): void {
    for (const child of this.#children) {
      try {
        child?.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    try {
      Deno.removeSync(this.#tempDir, { recursive: true });
    } catch { /* already gone */ }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #member(member: number): EtcdMemberInfo {
    const info = this.members[member];
    if (info === undefined) throw new RangeError(`No etcd member ${member}`);
    return info;
  }

  #spawn(member: number): void {
    const info = this.#member(member);
    // The shell appends etcd's log to a file and then becomes etcd (exec),
    // so the pid is etcd's and no pipe needs draining while tests run.
    this.#children[member] = new Deno.Command("/bin/sh", {
      args: ["-c", 'exec "$0" "$@" 2>>"$PACT_ETCD_LOG"', this.#binary, ...this.#argsFor(member)],
      env: { PACT_ETCD_LOG: info.logFile },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  }

  async #healthy(member: number): Promise<boolean> {
    const body = await this.#get(member, "/health");
    return body !== undefined && /"health"\s*:\s*"true"/.test(body);
  }

  async #isLeader(member: number): Promise<boolean> {
    const body = await this.#get(member, "/metrics");
    return body !== undefined && /^etcd_server_is_leader 1$/m.test(body);
  }

  async #get(member: number, path: string): Promise<string | undefined> {
    try {
      const res = await fetch(`${this.#member(member).metricsUrl}${path}`, {
        signal: AbortSignal.timeout(2_000),
      });
      return await res.text();
    } catch {
      return undefined;
    }
  }

  async #logTails(): Promise<string> {
    const parts: string[] = [];
    for (let i = 0; i < this.members.length; i++) {
      parts.push(`--- etcd member ${i} log ---\n${await this.log(i)}`);
    }
    return parts.join("\n");
  }
}

/** `count` distinct ports the OS says are free on 127.0.0.1. */
function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
