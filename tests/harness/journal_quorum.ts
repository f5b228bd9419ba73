import { JournalProcess } from "./journal_process.ts";
import { TestCa } from "./test_ca.ts";
import { commandSucceeds } from "../../shared/testing/commands.ts";

/** Settings every journal of a test quorum starts with (members and replicas alike). */
export interface JournalQuorumOptions {
  /** Extra environment, e.g. `PACT_JOURNAL_TLS_*` for TLS (see `quorumTlsEnv`). */
  readonly env?: Record<string, string>;
  /** Extra command-line arguments. */
  readonly args?: readonly string[];
}

/** One quorum member's ports: gRPC, then Raft (etcd peer) and etcd client right after it. */
export interface MemberPorts {
  readonly id: string;
  readonly grpc: number;
}

/**
 * A real quorum on loopback: N `bin/pact-journal` processes, each running
 * its own etcd member, formed the documented way (node 1 with --bootstrap,
 * the others join). Read replicas can be added. Everything is stopped and
 * removed on dispose, including etcd members orphaned by a SIGKILLed journal.
 */
export class JournalQuorum {
  readonly members: MemberPorts[];
  readonly peers: string;
  readonly dirs: string[];
  readonly journals: (JournalProcess | undefined)[];
  readonly replicas: JournalProcess[] = [];
  readonly options: JournalQuorumOptions;

  private constructor(members: MemberPorts[], dirs: string[], options: JournalQuorumOptions) {
    this.members = members;
    this.dirs = dirs;
    this.options = options;
    this.peers = members.map((m) => `${m.id}=127.0.0.1:${m.grpc}`).join(",");
    this.journals = members.map(() => undefined);
  }

  /** Starts `size` journals: node 1 bootstraps, the others join at once. */
  static async start(size = 3, options: JournalQuorumOptions = {}): Promise<JournalQuorum> {
    const members: MemberPorts[] = [];
    for (let i = 1; i <= size; i++) members.push({ id: String(i), grpc: freePortRun(3) });
    const dirs = await Promise.all(
      members.map(() => Deno.makeTempDir({ prefix: "pact-test-quorum-" })),
    );
    const quorum = new JournalQuorum(members, dirs, options);
    try {
      quorum.journals[0] = await quorum.#startMember(0, ["--bootstrap"]);
      const others = await Promise.all(members.slice(1).map((_, i) => quorum.#startMember(i + 1)));
      others.forEach((journal, i) => (quorum.journals[i + 1] = journal));
    } catch (err) {
      await quorum.dispose();
      throw err;
    }
    return quorum;
  }

  /** The running journal of member `index` (0-based). */
  journal(index: number): JournalProcess {
    const journal = this.journals[index];
    if (!journal) throw new Error(`journal ${index + 1} is not running`);
    return journal;
  }

  /** Restarts member `index`'s journal over its data (after kill or stop). */
  async restart(index: number): Promise<JournalProcess> {
    this.journals[index] = await this.#startMember(index);
    return this.journals[index]!;
  }

  /** Starts a read replica that serves from the quorum and forwards writes. */
  async addReplica(id = "replica-1"): Promise<JournalProcess> {
    const dir = await Deno.makeTempDir({ prefix: "pact-test-replica-" });
    this.dirs.push(dir);
    const replica = await JournalProcess.start({
      dataDir: dir,
      args: ["--node-id", id, "--peers", this.peers, "--read-only", ...(this.options.args ?? [])],
      ...(this.options.env === undefined ? {} : { env: this.options.env }),
    }, 60_000);
    this.replicas.push(replica);
    return replica;
  }

  /** Process id of member `index`'s etcd, from the pid file its journal writes. */
  async etcdPid(index: number): Promise<number> {
    const text = await Deno.readTextFile(`${this.dirs[index]}/etcd.pid`);
    return Number(text.trim());
  }

  async #startMember(index: number, extra: string[] = []): Promise<JournalProcess> {
    const member = this.members[index]!;
    return await JournalProcess.start({
      dataDir: this.dirs[index]!,
      grpcPort: member.grpc,
      args: ["--node-id", member.id, "--peers", this.peers, ...(this.options.args ?? []), ...extra],
      ...(this.options.env === undefined ? {} : { env: this.options.env }),
    }, 90_000);
  }

  /** Stops every journal and etcd member and removes the data. */
  async dispose(): Promise<void> {
    await Promise.all([...this.journals, ...this.replicas].map((j) => j?.stop()));
    for (let i = 0; i < this.members.length; i++) {
      const pid = await this.etcdPid(i).catch(() => NaN);
      if (Number.isInteger(pid) && pid > 0) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* already gone */ }
      }
    }
    await Promise.all(
      this.dirs.map((dir) => Deno.remove(dir, { recursive: true }).catch(() => {})),
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/** A port p such that p .. p+count-1 are all free on 127.0.0.1 right now. */
function freePortRun(count: number): number {
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const listeners: Deno.Listener[] = [];
    try {
      for (let i = 0; i < count; i++) {
        listeners.push(Deno.listen({ hostname: "127.0.0.1", port: base + i }));
      }
      return base;
    } catch {
      // taken: try another base
    } finally {
      for (const listener of listeners) listener.close();
    }
  }
  throw new Error(`no run of ${count} free ports found`);
}

/** True when an `etcd` binary is on PATH (CI installs etcd-server). */
export function etcdAvailable(): boolean {
  return commandSucceeds("etcd", ["--version"]);
}

/** PEM files a test quorum runs TLS with: a CA and one member certificate all members share. */
export interface QuorumTlsFiles {
  readonly dir: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** The DNS name in the member certificate (`pact-etcd`). */
  readonly serverName: string;
}

/**
 * Makes a CA and one member certificate with openssl in a new temporary
 * directory (the caller removes `dir`): EC P-256, SAN `DNS:pact-etcd,
 * IP:127.0.0.1`, key usages serverAuth and clientAuth (etcd serves, dials
 * its peers and checks its own gateway with it; the journals present it as
 * their client certificate).
 */
export async function makeQuorumTls(): Promise<QuorumTlsFiles> {
  const dir = await Deno.makeTempDir({ prefix: "pact-test-quorum-tls-" });
  try {
    const ca = await TestCa.create(dir);
    const member = await ca.issue("member", "DNS:pact-etcd,IP:127.0.0.1", "serverAuth,clientAuth");
    return { dir, caFile: ca.caFile, ...member, serverName: "pact-etcd" };
  } catch (err) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }
}

/** The environment that turns TLS on for a journal with `files`. */
export function quorumTlsEnv(files: QuorumTlsFiles): Record<string, string> {
  return {
    PACT_JOURNAL_TLS_CA: files.caFile,
    PACT_JOURNAL_TLS_CERT: files.certFile,
    PACT_JOURNAL_TLS_KEY: files.keyFile,
    PACT_JOURNAL_TLS_SERVER_NAME: files.serverName,
  };
}

/** True when `openssl` can be run (the TLS tests make their certificates with it). */
export function opensslAvailable(): boolean {
  return commandSucceeds("openssl", ["version"]);
}
