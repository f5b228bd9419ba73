import { JournalProcess } from "./journal_process.ts";

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

  private constructor(members: MemberPorts[], dirs: string[]) {
    this.members = members;
    this.dirs = dirs;
    this.peers = members.map((m) => `${m.id}=127.0.0.1:${m.grpc}`).join(",");
    this.journals = members.map(() => undefined);
  }

  /** Starts `size` journals: node 1 bootstraps, the others join at once. */
  static async start(size = 3): Promise<JournalQuorum> {
    const members: MemberPorts[] = [];
    for (let i = 1; i <= size; i++) members.push({ id: String(i), grpc: freePortRun(3) });
    const dirs = await Promise.all(
      members.map(() => Deno.makeTempDir({ prefix: "pact-test-quorum-" })),
    );
    const quorum = new JournalQuorum(members, dirs);
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
      args: ["--node-id", id, "--peers", this.peers, "--read-only"],
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
      args: ["--node-id", member.id, "--peers", this.peers, ...extra],
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
  try {
    return new Deno.Command("etcd", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}
