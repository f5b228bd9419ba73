/**
 * The journal quorum on etcd, with real processes: three `bin/pact-journal`
 * each running its etcd member on loopback, formed the documented way.
 */
import assert from "node:assert/strict";
import { JournalClient } from "../cli/client/journal_client.ts";
import { isPactError } from "../shared/errors/mod.ts";
import { commitEntry } from "../cli/ops/commit.ts";
import { JournalProcess } from "./harness/journal_process.ts";
import {
  etcdAvailable,
  JournalQuorum,
  makeQuorumTls,
  opensslAvailable,
  quorumTlsEnv,
} from "./harness/journal_quorum.ts";
import { runPact } from "./harness/cli_process.ts";
import { connectEtcd } from "../journal/store/etcd_store.ts";

const ignore = !etcdAvailable();
if (ignore) console.warn("etcd not on PATH: skipping the quorum tests (CI installs etcd-server)");

async function clientOf(journal: JournalProcess, timeoutSeconds = 20): Promise<JournalClient> {
  return new JournalClient({
    endpoint: journal.endpoint,
    token: await journal.token(),
    timeoutSeconds,
  });
}

/** Every entry a journal serves, as (sequence, request id). */
async function logOf(journal: JournalProcess): Promise<[number, string][]> {
  const client = await clientOf(journal);
  try {
    const entries = await client.listEntries({ limit: 10_000 });
    return entries.map((e) => [e.sequence, e.requestId]);
  } finally {
    client.close();
  }
}

/** Waits until `check` passes or `timeoutMs` runs out (then throws its last error). */
async function eventually(check: () => Promise<void>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

Deno.test({
  name:
    "a 3-journal quorum forms from --bootstrap and peers, replicates every write and reports its health",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  await using quorum = await JournalQuorum.start(3);
  const [first, second, third] = [quorum.journal(0), quorum.journal(1), quorum.journal(2)];
  const token = await first.token();

  // Writes through any journal land in one gap-free log every replica serves.
  for (const [i, journal] of [first, second, third, first, second, third].entries()) {
    const result = await runPact(
      ["commit", "-m", `change ${i}`, "--node", `node${i % 3}`],
      { PACT_ENDPOINT: journal.endpoint, PACT_TOKEN: token },
    );
    assert.equal(result.code, 0, result.stderr);
  }
  const expected = await logOf(first);
  assert.deepEqual(expected.map(([sequence]) => sequence), [0, 1, 2, 3, 4, 5]);
  await eventually(async () => {
    assert.deepEqual(await logOf(second), expected);
    assert.deepEqual(await logOf(third), expected);
  });
  // Every replica's in-memory state saw the other replicas' writes (tailing).
  await eventually(async () => {
    for (const journal of [first, second, third]) {
      const status = await runPact(["status", "node2", "--json"], {
        PACT_ENDPOINT: journal.endpoint,
        PACT_TOKEN: token,
      });
      assert.equal(status.code, 0, status.stderr);
      assert.equal(JSON.parse(status.stdout).last_commit_sequence, 5);
    }
  });

  const cluster = await runPact(["cluster", "--json"], {
    PACT_ENDPOINT: second.endpoint,
    PACT_TOKEN: token,
  });
  assert.equal(cluster.code, 0, cluster.stdout + cluster.stderr);
  const report = JSON.parse(cluster.stdout);
  assert.equal(report.store, "etcd");
  assert.equal(report.healthy, true);
  assert.deepEqual(report.members.map((m: { id: string }) => m.id).sort(), ["1", "2", "3"]);
  assert.equal(report.members.filter((m: { leader: boolean }) => m.leader).length, 1);
  assert.ok(report.raft_term >= 1 && report.raft_index > 0, cluster.stdout);
  assert.ok(report.members.every((m: { db_size_bytes: number }) => m.db_size_bytes > 0));
  const text = await runPact(["cluster"], { PACT_ENDPOINT: third.endpoint, PACT_TOKEN: token });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /Health:\s+healthy/);
  assert.match(text.stdout, /ID\s+ROLE\s+HEALTH\s+PEER URL/);

  // Each journal's /metrics says whether its member leads: exactly one does.
  await eventually(async () => {
    const leaders = [];
    for (const journal of [first, second, third]) {
      const metrics = await (await fetch(`${journal.httpUrl}/metrics`)).text();
      assert.match(metrics, /^pact_raft_term [1-9]\d*$/m);
      assert.match(metrics, /^pact_raft_has_leader 1$/m);
      leaders.push(/^pact_raft_leader 1$/m.test(metrics));
    }
    assert.equal(leaders.filter(Boolean).length, 1, `leaders ${leaders}`);
    assert.equal(leaders.indexOf(true) + 1, Number(report.leader));
  }, 15_000);

  // A read replica serves the same log and forwards writes to the quorum.
  const replica = await quorum.addReplica("replica-1");
  const viaReplica = await runPact(["commit", "-m", "through the replica", "--node", "node9"], {
    PACT_ENDPOINT: replica.endpoint,
    PACT_TOKEN: token,
  });
  assert.equal(viaReplica.code, 0, viaReplica.stderr + replica.log);
  assert.match(viaReplica.stdout, /seq:6/);
  await eventually(async () => assert.deepEqual(await logOf(replica), await logOf(first)));
  const replicaStatus = JSON.parse(
    (await runPact(["cluster", "--json"], { PACT_ENDPOINT: replica.endpoint, PACT_TOKEN: token }))
      .stdout,
  );
  assert.equal(replicaStatus.role, "replica");
});

Deno.test({
  name:
    "writes resume after kill -9 of the etcd leader and of a journal, with no acknowledged entry lost",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  await using quorum = await JournalQuorum.start(3);
  const journals = [quorum.journal(0), quorum.journal(1), quorum.journal(2)];
  const token = await journals[0]!.token();

  // A subscriber on journal 3 follows the log, as an agent would.
  const subscriber = await clientOf(journals[2]!);
  const seen: number[] = [];
  const subscription = new AbortController();
  const following = (async () => {
    try {
      for await (const update of subscriber.subscribe({ fromSequence: 0 }, subscription.signal)) {
        if (update.sequence !== undefined) seen.push(update.sequence);
      }
    } catch { /* the journal went away or we aborted */ }
  })();

  // Steady writers round-robin over the journals; each write retries with the
  // same request id until it is acknowledged (idempotent), as the CLI would.
  const acknowledged = new Map<string, number>();
  let stop = false;
  const writer = async (w: number) => {
    for (let i = 0; !stop; i++) {
      const entry = commitEntry(`node${w}`, `write ${w}/${i}`);
      for (let attempt = 0; !stop || attempt === 0; attempt++) {
        const target = journals[(w + attempt) % journals.length]!;
        const client = new JournalClient({ endpoint: target.endpoint, token, timeoutSeconds: 10 });
        try {
          const result = await client.appendEntry({ entry });
          acknowledged.set(entry.requestId, result.sequence);
          break;
        } catch (err) {
          if (!isPactError(err, "UNAVAILABLE") && !isPactError(err, "TIMEOUT")) throw err;
          await new Promise((resolve) => setTimeout(resolve, 200));
        } finally {
          client.close();
        }
        if (attempt > 200) throw new Error("a write never succeeded");
      }
    }
  };
  const writers = [0, 1, 2].map(writer);
  await new Promise((resolve) => setTimeout(resolve, 2_000));

  // Kill -9 the etcd leader's process, and journal 2 (its etcd keeps running).
  const status = JSON.parse(
    (await runPact(["cluster", "--json"], {
      PACT_ENDPOINT: journals[0]!.endpoint,
      PACT_TOKEN: token,
    }))
      .stdout,
  );
  const leaderIndex = Number(status.leader) - 1;
  const killedEtcd = await quorum.etcdPid(leaderIndex);
  const beforeKill = acknowledged.size;
  Deno.kill(killedEtcd, "SIGKILL");
  const killedAt = performance.now();
  const victim = leaderIndex === 1 ? 0 : 1;
  await journals[victim]!.kill();

  // Writes resume through the surviving journals.
  await eventually(() => {
    assert.ok(acknowledged.size > beforeKill + 20, `acknowledged ${acknowledged.size}`);
    return Promise.resolve();
  }, 30_000);
  const resumedMs = performance.now() - killedAt;
  journals[victim] = await quorum.restart(victim);
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  stop = true;
  await Promise.all(writers);

  // Every acknowledged write is in the log at its acknowledged sequence, the
  // log is gap-free, and every replica serves the same log.
  const log = await logOf(journals[0]!);
  assert.deepEqual(log.map(([sequence]) => sequence), [...Array(log.length).keys()]);
  const bySequence = new Map(log);
  for (const [requestId, sequence] of acknowledged) {
    assert.equal(bySequence.get(sequence), requestId, `acknowledged seq ${sequence} lost`);
  }
  await eventually(async () => {
    assert.deepEqual(await logOf(journals[1]!), log);
    assert.deepEqual(await logOf(journals[2]!), log);
  }, 30_000);
  // The subscriber on journal 3 saw every entry once, in order.
  await eventually(() => {
    assert.deepEqual(seen, [...Array(log.length).keys()]);
    return Promise.resolve();
  });
  subscription.abort();
  subscriber.close();
  await following;
  console.log(
    `  ${acknowledged.size} writes acknowledged; writes resumed ${
      Math.round(resumedMs)
    } ms after the kills`,
  );
});

Deno.test({
  name: "a journal that lost its quorum serves reads and refuses writes with exit code 5",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  await using quorum = await JournalQuorum.start(3);
  const survivor = quorum.journal(0);
  const token = await survivor.token();
  const env = { PACT_ENDPOINT: survivor.endpoint, PACT_TOKEN: token };
  assert.equal((await runPact(["commit", "-m", "before", "--node", "node1"], env)).code, 0);
  // Stop two of three journals; each stops its etcd member with it.
  await quorum.journal(1).stop();
  await quorum.journal(2).stop();

  const status = await runPact(["status", "--json"], env);
  assert.equal(status.code, 0, status.stderr);
  assert.equal(JSON.parse(status.stdout).journal.next_sequence, 1);
  // The log stays readable (serializable reads from the surviving member).
  const log = await runPact(["log", "--json"], env);
  assert.equal(log.code, 0, log.stderr);
  assert.deepEqual(JSON.parse(log.stdout).map((e: { message: string }) => e.message), ["before"]);
  const write = await runPact(["commit", "-m", "no quorum", "--node", "node1"], {
    ...env,
    PACT_TIMEOUT: "30",
  });
  assert.equal(write.code, 5, write.stdout + write.stderr);
  assert.equal(write.stderr.trim().split("\n").length, 1, write.stderr);
  const cluster = await runPact(["cluster", "--json"], env);
  assert.equal(cluster.code, 5, cluster.stderr);
});

Deno.test({
  name: "a member whose disk was replaced rejoins with a plain start; --bootstrap is refused",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  await using quorum = await JournalQuorum.start(3);
  const token = await quorum.journal(1).token();
  const env = { PACT_ENDPOINT: quorum.journal(1).endpoint, PACT_TOKEN: token };
  assert.equal((await runPact(["commit", "-m", "before", "--node", "node1"], env)).code, 0);
  const checked = await new Deno.Command("deploy/bootstrap-quorum.sh", {
    args: [quorum.journal(1).grpcAddress, "30"],
    env: { PACT_TOKEN: token },
  }).output();
  assert.equal(checked.code, 0, new TextDecoder().decode(checked.stderr));
  assert.match(new TextDecoder().decode(checked.stdout), /Health:\s+healthy/);

  // Node 1 loses its disk: stop it and wipe its data directory.
  await quorum.journal(0).stop();
  for await (const entry of Deno.readDir(quorum.dirs[0]!)) {
    if (entry.name !== "journal.toml") {
      await Deno.remove(`${quorum.dirs[0]}/${entry.name}`, { recursive: true });
    }
  }
  // Re-running the first-install command would found a second quorum: refused.
  await assert.rejects(
    JournalProcess.start({
      dataDir: quorum.dirs[0]!,
      grpcPort: quorum.members[0]!.grpc,
      args: ["--node-id", "1", "--peers", quorum.peers, "--bootstrap"],
    }, 30_000),
    /--bootstrap refused: a quorum already runs/,
  );
  // The documented replacement: start it plainly; it replaces its old member record.
  const replaced = await quorum.restart(0);
  await eventually(async () => {
    const cluster = await runPact(["cluster", "--json"], env);
    assert.equal(cluster.code, 0, cluster.stdout);
    const report = JSON.parse(cluster.stdout);
    assert.deepEqual(report.members.map((m: { id: string }) => m.id), ["1", "2", "3"]);
  }, 30_000);
  // It restored the log from the quorum and takes writes again.
  const write = await runPact(["commit", "-m", "after", "--node", "node1"], {
    PACT_ENDPOINT: replaced.endpoint,
    PACT_TOKEN: token,
  });
  assert.equal(write.code, 0, write.stderr);
  assert.match(write.stdout, /seq:1/);
});

Deno.test({
  name:
    "a 3-journal quorum runs etcd peer and client traffic over TLS and refuses clients without a certificate",
  ignore: ignore || !opensslAvailable(),
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const files = await makeQuorumTls();
  try {
    await using quorum = await JournalQuorum.start(3, { env: quorumTlsEnv(files) });
    const [first, second] = [quorum.journal(0), quorum.journal(1)];
    const token = await first.token();

    // Written through journal 1, read through journal 2.
    const write = await runPact(["commit", "-m", "over tls", "--node", "node1"], {
      PACT_ENDPOINT: first.endpoint,
      PACT_TOKEN: token,
    });
    assert.equal(write.code, 0, write.stderr + first.log);
    await eventually(async () => {
      const log = await runPact(["log", "--json"], {
        PACT_ENDPOINT: second.endpoint,
        PACT_TOKEN: token,
      });
      assert.equal(log.code, 0, log.stderr);
      assert.deepEqual(JSON.parse(log.stdout).map((e: { message: string }) => e.message), [
        "over tls",
      ]);
    });

    const cluster = await runPact(["cluster", "--json"], {
      PACT_ENDPOINT: second.endpoint,
      PACT_TOKEN: token,
    });
    assert.equal(cluster.code, 0, cluster.stdout + cluster.stderr);
    const report = JSON.parse(cluster.stdout);
    assert.equal(report.healthy, true, cluster.stdout);
    assert.deepEqual(report.members.map((m: { id: string }) => m.id).sort(), ["1", "2", "3"]);
    for (const member of report.members as { peer_urls: string[] }[]) {
      assert.match(member.peer_urls[0]!, /^https:\/\/127\.0\.0\.1:\d+$/);
    }

    // A read replica reaches the quorum's etcd with the same TLS settings.
    const replica = await quorum.addReplica("replica-tls");
    await eventually(async () => assert.deepEqual(await logOf(replica), await logOf(first)));

    // etcd's client port takes only clients with a certificate from the CA.
    const clientPort = quorum.members[0]!.grpc + 2;
    const ca = await Deno.readFile(files.caFile);
    const askStatus = async (endpoint: string, tls?: Parameters<typeof connectEtcd>[0]["tls"]) => {
      const client = connectEtcd({ endpoints: [endpoint], ...(tls === undefined ? {} : { tls }) });
      try {
        return await client.maintenance.status({ deadline: Date.now() + 5_000 });
      } finally {
        client.close();
      }
    };
    const https = `https://127.0.0.1:${clientPort}`;
    const status = await askStatus(https, {
      ca,
      cert: await Deno.readFile(files.certFile),
      key: await Deno.readFile(files.keyFile),
      serverName: files.serverName,
    });
    assert.ok(status.version !== "", "a client with the member certificate is served");
    await assert.rejects(askStatus(https, { ca, serverName: files.serverName }));
    await assert.rejects(askStatus(`http://127.0.0.1:${clientPort}`));
    // And its peer (Raft) port likewise: a TLS client without a certificate is cut off.
    const askPeer = async (certified: boolean): Promise<string> => {
      const peer = await Deno.connectTls({
        hostname: "127.0.0.1",
        port: quorum.members[0]!.grpc + 1,
        caCerts: [new TextDecoder().decode(ca)],
        ...(certified
          ? {
            cert: await Deno.readTextFile(files.certFile),
            key: await Deno.readTextFile(files.keyFile),
          }
          : {}),
      });
      try {
        await peer.handshake();
        await peer.write(new TextEncoder().encode("GET /members HTTP/1.1\r\nHost: x\r\n\r\n"));
        const buffer = new Uint8Array(4096);
        const read = await peer.read(buffer);
        if (read === null) throw new Error("closed without an answer");
        return new TextDecoder().decode(buffer.subarray(0, read));
      } finally {
        peer.close();
      }
    };
    assert.match(await askPeer(true), /^HTTP\/1\.1 200/);
    await assert.rejects(askPeer(false));
  } finally {
    await Deno.remove(files.dir, { recursive: true });
  }
});
