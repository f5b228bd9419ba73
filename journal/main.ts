/**
 * pact-journal: parses flags, wires the real adapters (SQLite store, file
 * snapshots, system clock), starts the gRPC and telemetry servers and shuts
 * down cleanly on SIGTERM/SIGINT.
 */
import { CommanderError } from "@commander-js/extra-typings";
import { dispose, getLogger } from "@logtape/logtape";
import { systemClock } from "../shared/clock/clock.ts";
import { formatHostPort } from "../shared/config/listen_address.ts";
import { mintDevToken } from "../shared/auth/dev_token.ts";
import { TokenVerifier } from "../shared/auth/token_verifier.ts";
import { isPactError, PactError } from "../shared/errors/mod.ts";
import { setupLogging } from "../shared/log/setup.ts";
import { PACT_VERSION } from "../shared/version.ts";
import { journalProgram } from "./args.ts";
import {
  type GrpcTlsSettings,
  type JournalConfig,
  type JournalFlags,
  resolveJournalConfig,
} from "./config.ts";
import { Journal } from "./core/journal.ts";
import { startTelemetryServer } from "./http/telemetry.ts";
import { JournalMetrics } from "./metrics.ts";
import { startGrpcServer } from "./service/server.ts";
import { FileSnapshotStore } from "./snapshot/file_snapshot_store.ts";
import { SqliteStore } from "./store/sqlite_store.ts";
import { openQuorum } from "./quorum/quorum.ts";
import { ApprovalStatus, PrincipalType } from "../shared/proto/gen/pact/config/config.ts";
import { ApprovalDesk } from "./policy/approval_desk.ts";
import { PolicyEngine } from "./policy/engine.ts";
import { OpaClient } from "./policy/opa_client.ts";
import { startEnrollment } from "./ca/start.ts";
import type { CaKeeper } from "./ca/ca_keeper.ts";
import { TlsIdentity } from "./ca/tls_identity.ts";
import { NodeLiveness } from "./ca/liveness.ts";
import { PeerVerifier } from "./service/peer_identity.ts";
import { SpiffeTrust } from "./ca/spiffe_trust.ts";

const log = getLogger(["pact", "journal"]);
const env = (name: string) => Deno.env.get(name);

/** Runs the journal until a termination signal arrives. */
async function serve(flags: JournalFlags): Promise<void> {
  const config = await resolveJournalConfig(flags, env);
  await setupLogging(config.log.level, config.log.format);
  await Deno.mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const quorum = config.peers.length > 0 ? await openQuorum(config) : undefined;
  const metrics = new JournalMetrics();
  const journal = await Journal.open({
    store: quorum?.store ?? new SqliteStore(`${config.dataDir}/journal.db`),
    snapshots: new FileSnapshotStore(config.snapshotDir, {
      onCorrupt: (file, reason) => log.warn("Skipping snapshot {file}: {reason}", { file, reason }),
    }),
    snapshotInterval: config.snapshotInterval,
    clock: systemClock,
    hooks: {
      ...metrics.hooks(),
      onSnapshotFailed: (error) => {
        metrics.snapshotFailures.inc();
        log.error("Snapshot failed: {error}", { error });
      },
    },
  });
  journal.startTailing((error) =>
    log.error(
      "Lost the store's change feed: {error}; writes by other journals are seen only on the next local write",
      {
        error: error.message,
      },
    )
  );
  metrics.observe(journal, {
    nodeId: config.nodeId,
    version: PACT_VERSION,
    ...(quorum ? { raft: quorum.raftFacts } : {}),
  });
  log.info("State restored: snapshot at {snapshot}, replayed {replayed} entries", {
    snapshot: journal.recovery.snapshotSequence,
    replayed: journal.recovery.replayedEntries,
  });
  const verifier = tokenVerifier(config);
  const { policy, approvals, stopPolicy } = startPolicy(config, journal, metrics, quorum?.role);
  const enrollment = await startEnrollment(config, journal, metrics, systemClock);
  const spiffe = config.enrollment.spiffe &&
    await SpiffeTrust.load(
      config.enrollment.spiffe.trustDomain,
      config.enrollment.spiffe.bundleFile,
    );
  const tls = config.grpcTls &&
    await startGrpcTls(config, config.grpcTls, enrollment.ca, spiffe);
  if (tls) quorum?.useForwardingTls(tls);
  const liveness = startLiveness(config, journal);
  const deps = {
    ...(liveness ? { liveness } : {}),
    ...(tls ? { peers: new PeerVerifier(journal, enrollment.domainId, systemClock, spiffe) } : {}),
    enrollment,
    journal,
    metrics,
    verifier,
    policy,
    approvals,
    nodeId: config.nodeId,
    version: PACT_VERSION,
    startedAtMs: Date.now(),
    maxConcurrentBootStreams: config.maxConcurrentBootStreams,
    ...(quorum
      ? {
        role: quorum.role,
        clusterStatus: () => quorum.clusterStatus(journal.state.nextSequence),
        ...(quorum.forwardAppend ? { forwardAppend: quorum.forwardAppend } : {}),
      }
      : {}),
  };
  const grpc = await startGrpcServer(config.listen, deps, tls);
  const http = startTelemetryServer(config.metricsListen, {
    ...deps,
    prometheusEnabled: config.prometheusEnabled,
    discovery: { ...config.discovery, issuer: config.auth.issuer, audience: config.auth.audience },
  });
  log.info(
    "pact-journal {version} ready: gRPC on {grpc}, HTTP on {http}, store {store} ({entries} entries)",
    {
      version: PACT_VERSION,
      grpc: formatHostPort(grpc.address),
      http: formatHostPort(http.address),
      store: quorum
        ? `etcd ${quorum.topology.self ? `member ${config.nodeId}` : "read replica"} of ${
          quorum.topology.members.map((m) => m.id).join(",")
        }`
        : `sqlite at ${config.dataDir}`,
      entries: journal.state.nextSequence,
    },
  );
  await terminationSignal();
  log.info("Shutting down: finishing calls, saving a snapshot");
  journal.disconnectSubscribers(
    new PactError("UNAVAILABLE", "Journal is shutting down: reconnect"),
  );
  await grpc.shutdown(5_000);
  tls?.stop();
  liveness?.stop();
  stopPolicy();
  await journal.close();
  await quorum?.close();
  await http.shutdown();
  log.info("pact-journal stopped at sequence {next}", { next: journal.state.nextSequence });
}

/**
 * Heartbeat-driven deactivation, on a single writing journal only: in a
 * quorum a node's subscription may be open on another replica.
 */
function startLiveness(config: JournalConfig, journal: Journal): NodeLiveness | undefined {
  if (config.readOnly || config.peers.length > 0) return undefined;
  const timeoutMs = config.enrollment.heartbeatTimeoutSeconds * 1000;
  const liveness = new NodeLiveness({
    journal,
    clock: systemClock,
    timeoutMs,
    author: {
      principal: `pact-journal/${config.nodeId}`,
      principalType: PrincipalType.SYSTEM,
      role: "pact-journal",
    },
  });
  liveness.start(Math.min(30_000, Math.max(500, timeoutMs / 4)));
  return liveness;
}

/**
 * The journal's TLS identity for its gRPC port, issued from its own CA
 * (settling the CA first if the log names none yet).
 */
async function startGrpcTls(
  config: JournalConfig,
  settings: GrpcTlsSettings,
  ca: CaKeeper,
  spiffe: SpiffeTrust | undefined,
): Promise<TlsIdentity> {
  const wildcard = ["0.0.0.0", "::", ""].includes(config.listen.host);
  const names = [
    ...new Set([
      "pact-journal",
      "localhost",
      "127.0.0.1",
      ...(wildcard ? [] : [config.listen.host]),
      // The journal's node name, when it is a host name (not a bare member number).
      ...(/^(?=.*[a-z])[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/i.test(config.nodeId)
        ? [config.nodeId]
        : []),
      ...settings.serverNames,
    ]),
  ];
  const tls = new TlsIdentity({
    ca,
    clock: systemClock,
    journalId: config.nodeId,
    domainId: config.enrollment.domainId,
    names,
    lifetimeMs: config.enrollment.certLifetimeSeconds * 1000,
    ...(spiffe ? { extraClientCaPem: spiffe.bundlePem } : {}),
  });
  await tls.start();
  if (spiffe) {
    log.info("gRPC TLS: SPIRE SVIDs of trust domain {domain} are accepted as node certificates", {
      domain: spiffe.trustDomain,
    });
  }
  log.info("gRPC TLS on: server certificate for {names}; agent calls need a client certificate", {
    names: names.join(", "),
  });
  return tls;
}

/** OPA probes every 10 s while configured; the probe also ends degraded mode. */
const OPA_PROBE_INTERVAL_MS = 10_000;

/**
 * The policy engine (RBAC, OPA when configured) and the approval desk,
 * whose expiry timer runs only on a journal that writes: a standalone one
 * or the etcd leader's (a race with another writer is harmless).
 */
function startPolicy(
  config: JournalConfig,
  journal: Journal,
  metrics: JournalMetrics,
  role: (() => string) | undefined,
) {
  const opa = config.policy.opaEndpoint === undefined
    ? undefined
    : new OpaClient({ endpoint: config.policy.opaEndpoint, timeoutMs: config.policy.opaTimeoutMs });
  const policy = new PolicyEngine({ opa, clock: systemClock, hooks: metrics.policyHooks() });
  const approvals = new ApprovalDesk({
    journal,
    clock: systemClock,
    nodeId: config.nodeId,
    hooks: { onTransition: (status) => metrics.approvalTransitions.inc({ status }) },
  });
  metrics.observePolicy(
    () => policy.status(),
    () => journal.state.approvals.count((a) => a.status === ApprovalStatus.PENDING),
  );
  const stopProbing = policy.startProbing(OPA_PROBE_INTERVAL_MS);
  const stopTimer = approvals.start(config.policy.approvalCheckIntervalMs, () => {
    const now = role?.() ?? "standalone";
    return now === "standalone" || now === "leader";
  });
  if (opa) log.info("Policy engine: RBAC, then OPA at {url}", { url: opa.decisionUrl });
  return {
    policy,
    approvals,
    stopPolicy: () => {
      stopProbing();
      stopTimer();
    },
  };
}

function tokenVerifier(config: JournalConfig): TokenVerifier {
  const verifier = new TokenVerifier({
    ...config.auth,
    jwks: {
      onFetchFailed: (error) =>
        log.warn(
          "Cannot fetch the IdP's signing keys from {url}: {error}; cached keys stay in use",
          {
            url: config.auth.jwksUrl,
            error: error.message,
          },
        ),
    },
  });
  if (!verifier.configured) {
    log.warn(
      "No token validation configured (PACT_OIDC_HMAC_SECRET or PACT_OIDC_JWKS_URL): every RPC will be refused",
    );
  } else if (config.auth.hmacSecret) {
    log.warn("HS256 development secret in use: do not use PACT_OIDC_HMAC_SECRET in production");
  }
  return verifier;
}

/** Resolves on SIGTERM or SIGINT; SIGHUP is logged and ignored. */
function terminationSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => resolve();
    Deno.addSignalListener("SIGTERM", stop);
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener(
      "SIGHUP",
      () => log.info("SIGHUP ignored: restart the journal to reload its config"),
    );
  });
}

async function mintToken(
  flags: JournalFlags,
  options: {
    principal: string;
    role: string;
    principalType: "human" | "agent" | "service";
    ttl: string;
  },
): Promise<void> {
  const config = await resolveJournalConfig(flags, env);
  if (!config.auth.hmacSecret) {
    throw new PactError("CONFIG", "Cannot mint a token: PACT_OIDC_HMAC_SECRET is not set");
  }
  const ttlSeconds = Number(options.ttl);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new PactError(
      "CONFIG",
      `Invalid --ttl ${JSON.stringify(options.ttl)}: expected a positive integer`,
    );
  }
  console.log(
    await mintDevToken({
      secret: config.auth.hmacSecret,
      issuer: config.auth.issuer,
      audience: config.auth.audience,
      principal: options.principal,
      role: options.role,
      principalType: options.principalType,
      ttlSeconds,
    }),
  );
}

async function main(args: string[]): Promise<number> {
  const { program, mintToken: mintTokenCommand } = journalProgram();
  let run: () => Promise<void> = () => serve(program.opts());
  program.action(() => {});
  mintTokenCommand.action((options) => {
    run = () => mintToken(program.opts(), options);
  });
  program.exitOverride();
  try {
    program.parse(args, { from: "user" });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    return err.exitCode;
  }
  try {
    await run();
    return 0;
  } catch (err) {
    const message = isPactError(err) ? err.message : `${(err as Error)?.stack ?? err}`;
    console.error(`pact-journal: ${message}`);
    return 1;
  } finally {
    await dispose();
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
