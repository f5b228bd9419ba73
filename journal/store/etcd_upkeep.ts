import { Buffer } from "node:buffer";
import type { Etcd3, IStatusResponse } from "etcd3";
import { connectEtcd, etcdFailure, type EtcdTls } from "./_etcd_client.ts";

/**
 * Upkeep of the etcd cluster under the journal, for the quorum manager:
 * compaction, defragmentation, the NOSPACE alarm, and a status report.
 * The journal's log keys are written once and never changed, so
 * compaction only drops old versions of the head key; every record stays
 * readable.
 */

/** Settings of the per-member helpers. */
export interface UpkeepOptions {
  /** TLS material for the members' client ports. */
  readonly tls?: EtcdTls;
  /** Deadline of each call (default 5 s; defragmentation gets 12 times as long). */
  readonly callTimeoutMs?: number;
}

/** What `compactSuperseded` did. */
export interface CompactionResult {
  /** The store's revision when compaction started. */
  readonly revision: number;
  /** The revision compacted to, or undefined when there was nothing to compact. */
  readonly compactedTo: number | undefined;
}

/**
 * Compacts etcd's history up to the current revision minus `keepRevisions`
 * and waits until it is physically done. A target at or below an earlier
 * compaction is a no-op.
 */
export async function compactSuperseded(
  client: Etcd3,
  keepRevisions: number,
  options: UpkeepOptions = {},
): Promise<CompactionResult> {
  if (!Number.isSafeInteger(keepRevisions) || keepRevisions < 0) {
    throw new RangeError(`keepRevisions must be a non-negative integer: ${keepRevisions}`);
  }
  const deadline = () => Date.now() + (options.callTimeoutMs ?? 5_000);
  try {
    const probe = await client.kv.range({ key: Buffer.from("\0"), limit: 1 }, {
      deadline: deadline(),
    });
    const revision = Number(probe.header.revision);
    const target = revision - keepRevisions;
    if (target <= 1) return { revision, compactedTo: undefined };
    try {
      await client.kv.compact({ revision: target, physical: true }, { deadline: deadline() });
    } catch (err) {
      if (err instanceof Error && /has been compacted/.test(err.message)) {
        return { revision, compactedTo: undefined };
      }
      throw err;
    }
    return { revision, compactedTo: target };
  } catch (err) {
    throw etcdFailure(err, "compact etcd", "");
  }
}

/** One member's outcome of a per-member call. */
export type MemberOutcome =
  | { readonly endpoint: string; readonly ok: true; readonly memberId: string }
  | { readonly endpoint: string; readonly ok: false; readonly error: string };

/**
 * Defragments each member at `endpoints`, one at a time (a member stalls
 * while it defragments), followers first and the leader last, so the
 * quorum keeps serving. A member that fails is reported, not thrown.
 */
export async function defragment(
  endpoints: readonly string[],
  options: UpkeepOptions = {},
): Promise<MemberOutcome[]> {
  const callTimeoutMs = options.callTimeoutMs ?? 5_000;
  const statuses = await Promise.all(endpoints.map((e) => memberStatus(e, options)));
  const order = endpoints.map((endpoint, i) => ({ endpoint, status: statuses[i]! }))
    .sort((a, b) => Number(isLeader(a.status)) - Number(isLeader(b.status)));
  const outcomes: MemberOutcome[] = [];
  for (const { endpoint, status } of order) {
    // etcd 3.4 answers a defragment without a header, so the member id
    // comes from the status call before it.
    const outcome = status.ok
      ? await onMember(endpoint, options, async (client) => {
        await client.maintenance.defragment({ deadline: Date.now() + 12 * callTimeoutMs });
        return status.status.header.member_id;
      })
      : status;
    outcomes.push(
      outcome.ok
        ? { endpoint, ok: true, memberId: outcome.value }
        : { endpoint, ok: false, error: outcome.error },
    );
  }
  return outcomes;
}

/** What `clearNoSpaceAlarm` did. */
export interface NoSpaceRecovery {
  /** False when no NOSPACE alarm was active (nothing else was done). */
  readonly cleared: boolean;
  readonly compaction?: CompactionResult;
  readonly defragmented?: readonly MemberOutcome[];
}

/**
 * If a NOSPACE alarm is active: compacts all history (the log keeps every
 * record), defragments every member at `endpoints`, then disarms the
 * alarm so that writes are accepted again.
 */
export async function clearNoSpaceAlarm(
  client: Etcd3,
  endpoints: readonly string[],
  options: UpkeepOptions = {},
): Promise<NoSpaceRecovery> {
  const deadline = () => Date.now() + (options.callTimeoutMs ?? 5_000);
  const alarms = await activeAlarms(client, deadline());
  const noSpace = alarms.filter((a) => a.alarm === "NOSPACE");
  if (noSpace.length === 0) return { cleared: false };
  const compaction = await compactSuperseded(client, 0, options);
  const defragmented = await defragment(endpoints, options);
  try {
    for (const alarm of noSpace) {
      await client.maintenance.alarm(
        { action: "Deactivate", memberID: alarm.memberId, alarm: "Nospace" },
        { deadline: deadline() },
      );
    }
  } catch (err) {
    throw etcdFailure(err, "disarm the NOSPACE alarm", endpoints.join(", "));
  }
  return { cleared: true, compaction, defragmented };
}

/** An active etcd alarm. */
export interface EtcdAlarm {
  readonly memberId: string;
  readonly alarm: "NOSPACE" | "CORRUPT";
}

/** One member as `clusterStatus` sees it. */
export interface EtcdMemberStatus {
  readonly id: string;
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly isLeader: boolean;
  readonly isLearner: boolean;
  /** The member's own status call: its figures, or why it failed. */
  readonly health:
    | {
      readonly ok: true;
      readonly version: string;
      readonly dbSizeBytes: number;
      readonly dbSizeInUseBytes: number;
      readonly raftTerm: number;
      readonly raftIndex: number;
    }
    | { readonly ok: false; readonly error: string };
}

/** The cluster as a whole; figures come from the leader (or the most advanced member). */
export interface EtcdClusterStatus {
  readonly members: readonly EtcdMemberStatus[];
  readonly leaderId: string | undefined;
  readonly raftTerm: number;
  readonly raftIndex: number;
  readonly dbSizeBytes: number;
  readonly dbSizeInUseBytes: number;
  readonly version: string;
  readonly alarms: readonly EtcdAlarm[];
}

/**
 * Lists the members (through `client`) and asks each for its own status at
 * its first client URL. A member that does not answer is reported with the
 * error; the call fails only when the member list itself cannot be read.
 */
export async function clusterStatus(
  client: Etcd3,
  options: UpkeepOptions = {},
): Promise<EtcdClusterStatus> {
  const deadline = () => Date.now() + (options.callTimeoutMs ?? 5_000);
  let list;
  let alarms;
  try {
    list = await client.cluster.memberList({}, { deadline: deadline() });
    alarms = await activeAlarms(client, deadline());
  } catch (err) {
    throw etcdFailure(err, "read the etcd cluster status", "");
  }
  const statuses = await Promise.all(
    list.members.map((m) =>
      m.clientURLs[0] === undefined
        ? Promise.resolve<MemberStatusResult>({ ok: false, error: "no client URL (not started)" })
        : memberStatus(m.clientURLs[0], options)
    ),
  );
  const answered = statuses.flatMap((s) => s.ok ? [s.status] : []);
  const leaderId = answered.find((s) => isLeader(s))?.leader ??
    answered.find((s) => s.leader !== "0")?.leader;
  const best = answered.find((s) => s.header.member_id === leaderId) ??
    answered.toSorted((a, b) => Number(b.raftIndex) - Number(a.raftIndex))[0];
  return {
    members: list.members.map((m, i): EtcdMemberStatus => {
      const s = statuses[i]!;
      return {
        id: m.ID,
        name: m.name,
        peerUrls: m.peerURLs,
        clientUrls: m.clientURLs,
        isLeader: m.ID === leaderId,
        isLearner: m.isLearner,
        health: s.ok
          ? {
            ok: true,
            version: s.status.version,
            dbSizeBytes: Number(s.status.dbSize),
            dbSizeInUseBytes: Number(s.status.dbSizeInUse),
            raftTerm: Number(s.status.raftTerm),
            raftIndex: Number(s.status.raftIndex),
          }
          : { ok: false, error: s.error },
      };
    }),
    leaderId,
    raftTerm: Math.max(0, ...answered.map((s) => Number(s.raftTerm))),
    raftIndex: best === undefined ? 0 : Number(best.raftIndex),
    dbSizeBytes: best === undefined ? 0 : Number(best.dbSize),
    dbSizeInUseBytes: best === undefined ? 0 : Number(best.dbSizeInUse),
    version: best?.version ?? "",
    alarms,
  };
}

type MemberStatusResult =
  | { readonly ok: true; readonly status: IStatusResponse }
  | { readonly ok: false; readonly error: string };

/** The status of the member at `endpoint`, through a client of its own. */
async function memberStatus(endpoint: string, options: UpkeepOptions): Promise<MemberStatusResult> {
  const outcome = await onMember(
    endpoint,
    options,
    (client) =>
      client.maintenance.status({ deadline: Date.now() + (options.callTimeoutMs ?? 5_000) }),
  );
  return outcome.ok ? { ok: true, status: outcome.value } : { ok: false, error: outcome.error };
}

/** Runs `call` with a client that talks to `endpoint` only, once (no retries elsewhere). */
async function onMember<T>(
  endpoint: string,
  options: UpkeepOptions,
  call: (client: Etcd3) => Promise<T>,
): Promise<
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string }
> {
  const client = connectEtcd({
    endpoints: [endpoint],
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  });
  try {
    const value = await call(client);
    return { ok: true, value };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, error: message.split("\n", 1)[0]! };
  } finally {
    client.close();
  }
}

function isLeader(status: IStatusResponse | MemberStatusResult): boolean {
  const s = "ok" in status ? (status.ok ? status.status : undefined) : status;
  return s !== undefined && s.leader !== "0" && s.leader === s.header.member_id;
}

async function activeAlarms(client: Etcd3, deadline: number): Promise<EtcdAlarm[]> {
  const res = await client.maintenance.alarm(
    { action: "Get", memberID: 0, alarm: "None" },
    { deadline },
  );
  return res.alarms.flatMap((a): EtcdAlarm[] =>
    a.alarm === "Nospace" || a.alarm === "Corrupt"
      ? [{ memberId: a.memberID, alarm: a.alarm === "Nospace" ? "NOSPACE" : "CORRUPT" }]
      : []
  );
}
