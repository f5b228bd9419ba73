import { formatHostPort, type HostPort } from "../../shared/config/listen_address.ts";
import { PactError } from "../../shared/errors/mod.ts";
import type { JournalConfig, Peer } from "../config.ts";

/** Where one quorum member's etcd listens and is reached. */
export interface MemberUrls {
  readonly id: string;
  /** Raft traffic between members (the journal's Raft port, 9444). */
  readonly peerUrl: string;
  /** etcd clients: the journals themselves (Raft port + 1, 9445). */
  readonly clientUrl: string;
}

/** The quorum as pact's settings describe it. */
export interface Topology {
  /** This journal's member; undefined for a read replica. */
  readonly self: MemberUrls | undefined;
  readonly members: readonly MemberUrls[];
  /** gRPC addresses of the quorum's journals, for forwarding writes. */
  readonly writers: readonly { readonly id: string; readonly grpc: HostPort }[];
}

/** URLs of one peer's etcd member: `https` when the quorum runs with TLS. */
export function memberUrls(peer: Peer, tls = false): MemberUrls {
  const scheme = tls ? "https" : "http";
  return {
    id: peer.id,
    peerUrl: `${scheme}://${formatHostPort(peer.raft)}`,
    clientUrl: `${scheme}://${formatHostPort({ ...peer.raft, port: peer.raft.port + 1 })}`,
  };
}

/**
 * The quorum from a journal's config. A writing journal must be one of the
 * peers (its node id names its member); a read replica must not be.
 */
export function topologyOf(config: JournalConfig): Topology {
  const members = config.peers.map((peer) => memberUrls(peer, config.tls !== undefined));
  const self = members.find((member) => member.id === config.nodeId);
  if (!config.readOnly && !self) {
    throw new PactError(
      "CONFIG",
      `Node id ${config.nodeId} is not among the quorum members (${
        members.map((m) => m.id).join(", ")
      }): set PACT_JOURNAL_NODE_ID, or start a read replica with --read-only`,
    );
  }
  if (config.readOnly && self) {
    throw new PactError(
      "CONFIG",
      `Node id ${config.nodeId} is a quorum member: a read replica (--read-only) needs an id outside the peers list`,
    );
  }
  if (config.bootstrap && config.readOnly) {
    throw new PactError("CONFIG", "--bootstrap and --read-only exclude each other");
  }
  return {
    self: config.readOnly ? undefined : self,
    members,
    writers: config.peers.map((peer) => ({ id: peer.id, grpc: peer.grpc })),
  };
}

/** `etcd --initial-cluster` text for `members`. */
export function initialCluster(members: readonly MemberUrls[]): string {
  return members.map((member) => `${member.id}=${member.peerUrl}`).join(",");
}
