/**
 * A journal in quorum mode: its local etcd member (unless a read replica),
 * the etcd store every replica shares, automatic upkeep, the cluster status
 * `pact cluster` shows, and write forwarding for read replicas.
 */
import { getLogger } from "@logtape/logtape";
import { Buffer } from "node:buffer";
import type { Etcd3 } from "etcd3";
import { formatHostPort } from "../../shared/config/listen_address.ts";
import { isPactError, PactError } from "../../shared/errors/mod.ts";
import type {
  AppendEntryRequest,
  AppendEntryResponse,
  ClusterStatus,
} from "../../shared/proto/gen/pact/journal/journal.ts";
import type { JournalConfig } from "../config.ts";
import {
  connectEtcd,
  EtcdStore,
  type EtcdTls,
  MANAGED_ETCD_SERVER_LIMITS,
} from "../store/etcd_store.ts";
import { EtcdMember } from "./etcd_member.ts";
import { type Topology, topologyOf } from "./topology.ts";
import type { RaftFacts } from "../metrics.ts";
import { Upkeep } from "./upkeep.ts";
import type { TlsIdentity } from "../ca/tls_identity.ts";
import {
  FORWARDED_NODE_HEADER,
  FORWARDED_SERIAL_HEADER,
  FORWARDED_SOURCE_HEADER,
  type MachineIdentity,
} from "../service/peer_identity.ts";

const log = getLogger(["pact", "journal", "quorum"]);

/** Everything quorum mode adds to a journal; `close` releases it in order. */
export interface Quorum {
  readonly store: EtcdStore;
  readonly topology: Topology;
  /** `leader` or `follower` (this journal's etcd member), or `replica`. */
  role(): string;
  /** Leader, term and index as last polled (every few seconds); undefined before the first poll. */
  raftFacts(): RaftFacts | undefined;
  clusterStatus(nextSequence: number): Promise<ClusterStatus>;
  /** Set on a read replica. */
  readonly forwardAppend:
    | ((
      request: AppendEntryRequest,
      token: string,
      machine?: MachineIdentity,
    ) => Promise<AppendEntryResponse>)
    | undefined;
  /** With gRPC TLS: a read replica forwards over TLS, as itself for agents' mTLS writes. */
  useForwardingTls(tls: TlsIdentity): void;
  /** Stops upkeep and the client; the etcd member goes last (after the journal closed). */
  close(): Promise<void>;
}

/** Starts the local member (or joins, or adopts it) and opens the shared store. */
export async function openQuorum(config: JournalConfig): Promise<Quorum> {
  const topology = topologyOf(config);
  const tls = etcdTlsOf(config);
  const connect = (endpoints: readonly string[]) =>
    connectEtcd({ endpoints, ...(tls === undefined ? {} : { tls }) });
  let member: EtcdMember | undefined;
  if (topology.self) {
    member = await EtcdMember.start({
      self: topology.self,
      members: topology.members,
      dataDir: `${config.dataDir}/etcd`,
      listenHost: config.listen.host,
      bootstrap: config.bootstrap,
      snapshotCount: config.snapshotInterval,
      settings: config.etcd,
      serverLimits: MANAGED_ETCD_SERVER_LIMITS,
      ...(config.tls === undefined ? {} : {
        tls: {
          caFile: config.tls.caFile,
          certFile: config.tls.certFile,
          keyFile: config.tls.keyFile,
        },
      }),
      connect,
    });
    log.info("etcd member {id} running (pid {pid}) on {url}", {
      id: topology.self.id,
      pid: member.pid ?? "unknown",
      url: topology.self.peerUrl,
    });
  }
  // Every member: etcd3 spreads calls over them and skips one that fails,
  // so the journal keeps working when its own member is down.
  const endpoints = [
    ...(topology.self ? [topology.self.clientUrl] : []),
    ...topology.members.filter((m) => m !== topology.self).map((m) => m.clientUrl),
  ];
  const client = connect(endpoints);
  const store = new EtcdStore(client, { server: MANAGED_ETCD_SERVER_LIMITS, endpoints });
  const upkeep = topology.self
    ? new Upkeep(client, endpoints, config.etcd, topology.self.id, tls)
    : undefined;
  upkeep?.start();
  let lastRole = topology.self ? "follower" : "replica";
  const forwarder = topology.self ? undefined : new WriteForwarder(topology);
  let facts: RaftFacts | undefined;
  const poll = async () => {
    try {
      facts = await pollRaft(client, config.nodeId);
      if (topology.self) lastRole = facts.leader ? "leader" : "follower";
    } catch {
      facts = facts && { ...facts, hasLeader: false, leader: false };
    }
  };
  await poll();
  const poller = setInterval(() => void poll(), RAFT_POLL_MS);

  return {
    store,
    topology,
    role: () => lastRole,
    raftFacts: () => facts,
    clusterStatus: async (nextSequence) => {
      const status = await readClusterStatus(client, config.nodeId, nextSequence, tls);
      const self = status.members.find((m) => m.id === config.nodeId);
      lastRole = topology.self ? (self?.isLeader ? "leader" : "follower") : "replica";
      return {
        ...status,
        role: lastRole,
        lastCompaction: upkeep?.lastCompaction,
        lastDefrag: upkeep?.lastDefrag,
      };
    },
    forwardAppend: forwarder &&
      ((request, token, machine) => forwarder.append(request, token, machine)),
    useForwardingTls: (tls) => forwarder?.useTls(tls),
    close: async () => {
      clearInterval(poller);
      upkeep?.stop();
      await store.close();
      client.close();
      await member?.stop();
    },
  };
}

/** How often a journal refreshes its view of the Raft leader, term and index. */
const RAFT_POLL_MS = 5_000;

/**
 * One status call to whichever member answers: the leader's id, the term
 * and index; whether the leader is this journal's member (found by name).
 */
async function pollRaft(client: Etcd3, nodeId: string): Promise<RaftFacts> {
  const deadline = () => Date.now() + 2_000;
  const status = await client.maintenance.status({ deadline: deadline() });
  const members = await client.cluster.memberList({}, { deadline: deadline() });
  const own = members.members.find((m) => m.name === nodeId);
  return {
    hasLeader: status.leader !== "0",
    leader: own !== undefined && own.ID === status.leader,
    term: Number(status.raftTerm),
    index: Number(status.raftIndex),
  };
}

/**
 * What every etcd client of the journal presents: the CA, the member
 * certificate as client certificate, and the shared server name.
 */
function etcdTlsOf(config: JournalConfig): EtcdTls | undefined {
  const tls = config.tls;
  if (tls === undefined) return undefined;
  return {
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    ...(tls.serverName === undefined ? {} : { serverName: tls.serverName }),
  };
}

async function readClusterStatus(
  client: Etcd3,
  nodeId: string,
  nextSequence: number,
  tls: EtcdTls | undefined,
): Promise<ClusterStatus> {
  const { clusterStatus } = await import("../store/etcd_upkeep.ts");
  const status = await clusterStatus(client, tls === undefined ? {} : { tls });
  return {
    store: "etcd",
    nodeId,
    role: "",
    leaderMemberId: status.leaderId ?? "",
    raftTerm: status.raftTerm,
    raftIndex: status.raftIndex,
    members: status.members.map((m) => ({
      id: m.name,
      memberId: m.id,
      peerUrls: [...m.peerUrls],
      clientUrls: [...m.clientUrls],
      isLeader: m.isLeader,
      healthy: m.health.ok,
      error: m.health.ok ? "" : m.health.error,
      raftTerm: m.health.ok ? m.health.raftTerm : 0,
      raftIndex: m.health.ok ? m.health.raftIndex : 0,
      dbSizeBytes: m.health.ok ? m.health.dbSizeBytes : 0,
      dbSizeInUseBytes: m.health.ok ? m.health.dbSizeInUseBytes : 0,
      version: m.health.ok ? m.health.version : "",
    })),
    alarms: status.alarms.map((a) => `${a.alarm} on member ${a.memberId}`),
    nextSequence,
    lastCompaction: undefined,
    lastDefrag: undefined,
    writable: status.leaderId !== undefined && status.alarms.length === 0,
  };
}

/**
 * A read replica's path for writes: the quorum's journals, tried in turn
 * from the last one that answered; its answer (or refusal) comes back as
 * is. A caller's token goes along and the writing journal checks it again.
 * An agent that authenticated by its client certificate cannot be
 * forwarded that way (its key stays on the node): the replica, having
 * verified the certificate, calls over mTLS with its own journal
 * certificate and names the node, its serial and source in headers
 * (`FORWARDED_*_HEADER`), which the writing journal accepts only from a
 * journal's certificate and checks against its registry again.
 */
class WriteForwarder {
  readonly #writers: Topology["writers"];
  #next = 0;
  #tls: TlsIdentity | undefined;

  constructor(topology: Topology) {
    this.#writers = topology.writers;
  }

  useTls(tls: TlsIdentity): void {
    this.#tls = tls;
  }

  async append(
    request: AppendEntryRequest,
    token: string,
    machine?: MachineIdentity,
  ): Promise<AppendEntryResponse> {
    const { JournalClient } = await import("../../cli/client/journal_client.ts");
    const { credentials } = await import("@grpc/grpc-js");
    const own = this.#tls?.clientIdentity();
    if (machine && !own) {
      throw new PactError(
        "UNAVAILABLE",
        "Read replica cannot forward an agent's mTLS write: it has no TLS identity of its own",
      );
    }
    let lastError: unknown;
    for (let i = 0; i < this.#writers.length; i++) {
      const index = (this.#next + i) % this.#writers.length;
      const writer = this.#writers[index]!;
      const address = formatHostPort(writer.grpc);
      const ca = own && Buffer.from(own.caPem);
      const client = new JournalClient({
        endpoint: `${own ? "https" : "http"}://${address}`,
        token: machine ? "" : token,
        timeoutSeconds: 15,
        ...(own
          ? {
            // A token caller's write goes without a client certificate: with one
            // the writer would take the call for the replica's own.
            credentials: machine
              ? credentials.createSsl(ca, Buffer.from(own.keyPem), Buffer.from(own.certPem))
              : credentials.createSsl(ca),
            channelOptions: {
              "grpc.ssl_target_name_override": "pact-journal",
              "grpc.default_authority": "pact-journal",
            },
          }
          : {}),
        ...(machine
          ? {
            headers: {
              [FORWARDED_NODE_HEADER]: machine.nodeId,
              [FORWARDED_SERIAL_HEADER]: machine.serial,
              [FORWARDED_SOURCE_HEADER]: machine.source ?? "journal-ca",
            },
          }
          : {}),
      });
      try {
        const response = await client.appendEntry(request);
        this.#next = index;
        return response;
      } catch (err) {
        if (!isPactError(err, "UNAVAILABLE") && !isPactError(err, "TIMEOUT")) throw err;
        lastError = err;
      } finally {
        client.close();
      }
    }
    throw new PactError(
      "UNAVAILABLE",
      `Read replica cannot forward the write: no quorum journal answered (${
        this.#writers.map((w) => formatHostPort(w.grpc)).join(", ")
      }): ${(lastError as Error)?.message ?? "no writers configured"}`,
    );
  }
}
