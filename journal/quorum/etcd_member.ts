/**
 * The etcd member a quorum journal runs beside itself. Its whole
 * configuration is derived from pact's settings (ids, peers, Raft port,
 * data dir, snapshot interval): the operator never writes etcd flags.
 *
 * First start: `--bootstrap` creates a one-member cluster; any other node
 * asks the running members to add it (`MemberAdd`) and joins. A node whose
 * data was lost but whose id is still a member (a replaced machine) removes
 * the stale member record first, then joins afresh. Later starts reuse the
 * member's data. The process is restarted with backoff if it dies, and an
 * etcd left running by a journal that was killed is adopted, not doubled.
 */
import { getLogger } from "@logtape/logtape";
import type { Etcd3 } from "etcd3";
import { isPactError, PactError } from "../../shared/errors/mod.ts";
import type { EtcdSettings, JournalTlsFiles } from "../config.ts";
import type { EtcdServerLimits } from "../store/etcd_store.ts";
import { initialCluster, type MemberUrls } from "./topology.ts";

const log = getLogger(["pact", "journal", "etcd"]);

/** What the member is started from. */
export interface EtcdMemberOptions {
  readonly self: MemberUrls;
  readonly members: readonly MemberUrls[];
  /** The member's own directory (`<data-dir>/etcd`). */
  readonly dataDir: string;
  /** Host the journal listens on; etcd binds its ports there too. */
  readonly listenHost: string;
  readonly bootstrap: boolean;
  readonly snapshotCount: number;
  readonly settings: EtcdSettings;
  /** Request and transaction sizes the member accepts; the store's batch limits follow them. */
  readonly serverLimits: EtcdServerLimits;
  /**
   * PEM files for TLS on both of etcd's sides (`self`'s URLs are then
   * https): the member serves and dials its peers with this certificate
   * and requires one signed by the CA from peers and clients alike.
   */
  readonly tls?: Pick<JournalTlsFiles, "caFile" | "certFile" | "keyFile">;
  /** Connects an etcd client to `endpoints` (with the journal's TLS material, if any). */
  readonly connect: (endpoints: readonly string[]) => Etcd3;
}

/** Arguments of the etcd process; pure, so that tests can read them. */
export function etcdArgs(
  options: EtcdMemberOptions,
  cluster: { readonly members: readonly MemberUrls[]; readonly state: "new" | "existing" },
): string[] {
  const { self, listenHost, tls } = options;
  const raftPort = new URL(self.peerUrl).port;
  const clientPort = new URL(self.clientUrl).port;
  const bindHost = /^[\d.]+$|:/.test(listenHost) ? listenHost : "0.0.0.0";
  const scheme = tls === undefined ? "http" : "https";
  const bind = (port: string) =>
    `${scheme}://${bindHost.includes(":") ? `[${bindHost}]` : bindHost}:${port}`;
  return [
    `--name=${self.id}`,
    `--data-dir=${options.dataDir}`,
    `--listen-peer-urls=${bind(raftPort)}`,
    `--initial-advertise-peer-urls=${self.peerUrl}`,
    `--listen-client-urls=${bind(clientPort)}`,
    `--advertise-client-urls=${self.clientUrl}`,
    `--initial-cluster=${initialCluster(cluster.members)}`,
    `--initial-cluster-state=${cluster.state}`,
    "--initial-cluster-token=pact-journal",
    `--snapshot-count=${Math.max(1, options.snapshotCount)}`,
    `--max-txn-ops=${options.serverLimits.maxTxnOps}`,
    `--max-request-bytes=${options.serverLimits.maxRequestBytes}`,
    `--quota-backend-bytes=${options.settings.quotaBytes}`,
    "--strict-reconfig-check=true",
    ...(tls === undefined ? [] : [
      `--cert-file=${tls.certFile}`,
      `--key-file=${tls.keyFile}`,
      `--trusted-ca-file=${tls.caFile}`,
      "--client-cert-auth=true",
      `--peer-cert-file=${tls.certFile}`,
      `--peer-key-file=${tls.keyFile}`,
      `--peer-trusted-ca-file=${tls.caFile}`,
      "--peer-client-cert-auth=true",
    ]),
    "--logger=zap",
    "--log-outputs=stderr",
  ];
}

/** A supervised etcd process (or one adopted from an earlier run). */
export class EtcdMember {
  readonly #options: EtcdMemberOptions;
  #child: Deno.ChildProcess | undefined;
  #adoptedPid: number | undefined;
  #stopping = false;
  #restarts = 0;
  #supervising: Promise<void> | undefined;

  private constructor(options: EtcdMemberOptions) {
    this.#options = options;
  }

  /** Starts (or joins, or adopts) the member and resolves once it answers clients. */
  static async start(options: EtcdMemberOptions): Promise<EtcdMember> {
    const member = new EtcdMember(options);
    await Deno.mkdir(options.dataDir, { recursive: true, mode: 0o700 });
    if (await member.#answering()) {
      member.#adoptedPid = await member.#readPid();
      log.warn("Adopted the etcd member already running on {url} (pid {pid})", {
        url: options.self.clientUrl,
        pid: member.#adoptedPid ?? "unknown",
      });
      return member;
    }
    const cluster = await member.#clusterToJoin();
    member.#spawn(cluster);
    await member.#waitUntilAnswering(60_000);
    member.#supervising = member.#supervise(cluster);
    return member;
  }

  /** Process id of the etcd process, when known. */
  get pid(): number | undefined {
    return this.#child?.pid ?? this.#adoptedPid;
  }

  /** How often the member had to be restarted since the journal started. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Stops etcd gracefully (SIGTERM, then SIGKILL after `graceMs`). */
  async stop(graceMs = 10_000): Promise<void> {
    this.#stopping = true;
    const child = this.#child;
    if (child) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* exited meanwhile */ }
      }, graceMs);
      await child.status;
      clearTimeout(timer);
      await this.#supervising;
    } else if (this.#adoptedPid !== undefined) {
      // Not our child: signalling it needs a wider --allow-run than the
      // journal has under bin/pact-journal, so say what is left running.
      try {
        Deno.kill(this.#adoptedPid, "SIGTERM");
      } catch (err) {
        log.warn("Left the adopted etcd member (pid {pid}) running: {error}", {
          pid: this.#adoptedPid,
          error: (err as Error).message,
        });
        return;
      }
    }
    await Deno.remove(this.#pidFile()).catch(() => {});
  }

  /** Which cluster to start with: existing data, a new one (bootstrap), or joining. */
  async #clusterToJoin(): Promise<{ members: MemberUrls[]; state: "new" | "existing" }> {
    const { self, bootstrap } = this.#options;
    if (await exists(`${this.#options.dataDir}/member`)) {
      // etcd ignores the initial cluster once it has data.
      return { members: [self], state: "existing" };
    }
    if (bootstrap) {
      await this.#refuseSecondQuorum();
      log.info("Bootstrapping a new quorum with member {id} ({url})", {
        id: self.id,
        url: self.peerUrl,
      });
      return { members: [self], state: "new" };
    }
    return await this.#join();
  }

  /**
   * `--bootstrap` on a node without data would found a second, separate
   * quorum if the others already run one (node 1's disk was replaced, or
   * the flag was left in a unit file): refuse when any peer answers.
   */
  async #refuseSecondQuorum(): Promise<void> {
    const { self, members } = this.#options;
    const others = members.filter((m) => m.id !== self.id).map((m) => m.clientUrl);
    for (const url of others) {
      const target = new URL(url);
      try {
        const socket = await Deno.connect({ hostname: target.hostname, port: Number(target.port) });
        socket.close();
      } catch {
        continue;
      }
      const client = this.#options.connect([url]);
      try {
        const listed = await withTimeout(client.cluster.memberList({}), 3_000);
        const names = (listed.members ?? []).map((m) => m.name || "(joining)").join(", ");
        throw new PactError(
          "CONFIG",
          `--bootstrap refused: a quorum already runs (members ${names} via ${url}); ` +
            "start this node without --bootstrap to join it",
        );
      } catch (err) {
        if (isPactError(err)) throw err;
        // Not answering as etcd: nothing to protect.
      } finally {
        client.close();
      }
    }
  }

  /** Asks the running members to add this one; retries until a member answers. */
  async #join(): Promise<{ members: MemberUrls[]; state: "existing" }> {
    const { self, members } = this.#options;
    const others = members.filter((m) => m.id !== self.id).map((m) => m.clientUrl);
    if (others.length === 0) {
      throw new PactError(
        "CONFIG",
        "This node has no etcd data and no other quorum member to join: start node 1 with --bootstrap",
      );
    }
    let delayMs = 500;
    for (let attempt = 1;; attempt++) {
      const client = this.#options.connect(others);
      try {
        const current = (await client.cluster.memberList({})).members ?? [];
        const mine = current.find((m) => m.peerURLs?.includes(self.peerUrl));
        if (mine && mine.name !== "" && mine.name !== undefined) {
          // Our id is a started member but our data is gone: a replacement.
          log.warn("Member {id} has no data here: removing its old record and joining afresh", {
            id: self.id,
          });
          await client.cluster.memberRemove({ ID: mine.ID });
          continue;
        }
        if (!mine) await client.cluster.memberAdd({ peerURLs: [self.peerUrl] });
        const listed = (await client.cluster.memberList({})).members ?? [];
        const cluster = listed.map((m): MemberUrls => {
          const peerUrl = m.peerURLs?.[0] ?? "";
          const known = members.find((k) => k.peerUrl === peerUrl);
          return {
            id: m.name || known?.id || self.id,
            peerUrl,
            clientUrl: m.clientURLs?.[0] ?? "",
          };
        });
        log.info("Joining the quorum as member {id}: {cluster}", {
          id: self.id,
          cluster: initialCluster(cluster),
        });
        return { members: cluster, state: "existing" };
      } catch (err) {
        if (attempt === 1 || attempt % 10 === 0) {
          log.warn("Cannot join the quorum yet via {others}: {error} (retrying)", {
            others: others.join(","),
            error: (err as Error).message,
          });
        }
        await sleep(delayMs);
        delayMs = Math.min(delayMs * 2, 5_000);
      } finally {
        client.close();
      }
    }
  }

  #spawn(cluster: { members: readonly MemberUrls[]; state: "new" | "existing" }): void {
    const args = etcdArgs(this.#options, cluster);
    log.debug("Starting {binary} {args}", { binary: this.#options.settings.binary, args });
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(this.#options.settings.binary, {
        args,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
    } catch (err) {
      throw new PactError(
        "CONFIG",
        `Cannot start etcd (${this.#options.settings.binary}): ${(err as Error).message}; ` +
          "install etcd-server or set PACT_JOURNAL_ETCD_BIN",
        { cause: err },
      );
    }
    this.#child = child;
    void this.#captureLog(child);
    void Deno.writeTextFile(this.#pidFile(), `${child.pid}\n`).catch(() => {});
  }

  /** Restarts etcd with backoff whenever it exits while the journal runs. */
  async #supervise(first: { members: readonly MemberUrls[]; state: "new" | "existing" }) {
    let delayMs = 1_000;
    while (this.#child) {
      const status = await this.#child.status;
      if (this.#stopping) return;
      this.#restarts++;
      log.error("etcd member exited with code {code}; restarting in {delay} ms", {
        code: status.code,
        delay: delayMs,
      });
      await sleep(delayMs);
      delayMs = Math.min(delayMs * 2, 30_000);
      if (this.#stopping) return;
      const hasData = await exists(`${this.#options.dataDir}/member`);
      this.#spawn(hasData ? { members: [this.#options.self], state: "existing" } : first);
    }
  }

  async #captureLog(child: Deno.ChildProcess): Promise<void> {
    const file = await Deno.open(`${this.#options.dataDir}.log`, {
      create: true,
      append: true,
    });
    try {
      for await (const chunk of child.stderr) await file.write(chunk);
    } catch {
      /* the process ended */
    } finally {
      file.close();
    }
  }

  async #answering(): Promise<boolean> {
    // A plain TCP probe first: a gRPC call to a closed port would leave the
    // process-wide connection in reconnect backoff and delay later calls.
    const url = new URL(this.#options.self.clientUrl);
    try {
      const socket = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
      socket.close();
    } catch {
      return false;
    }
    const client = this.#options.connect([this.#options.self.clientUrl]);
    try {
      await withTimeout(client.maintenance.status(), 3_000);
      return true;
    } catch (err) {
      log.debug("etcd at {url} does not answer yet: {error}", {
        url: this.#options.self.clientUrl,
        error: (err as Error).message,
      });
      return false;
    } finally {
      client.close();
    }
  }

  async #waitUntilAnswering(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.#child && (await Promise.race([this.#child.status, sleep(0)]))) {
        throw new PactError(
          "UNAVAILABLE",
          `etcd exited during start-up; see ${this.#options.dataDir}.log`,
        );
      }
      if (await this.#answering()) return;
      await sleep(250);
    }
    throw new PactError(
      "UNAVAILABLE",
      `etcd did not answer on ${this.#options.self.clientUrl} within ${timeoutMs / 1000} s; ` +
        `see ${this.#options.dataDir}.log`,
    );
  }

  #pidFile(): string {
    return `${this.#options.dataDir}.pid`;
  }

  async #readPid(): Promise<number | undefined> {
    const text = await Deno.readTextFile(this.#pidFile()).catch(() => "");
    const pid = Number(text.trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
