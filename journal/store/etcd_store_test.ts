import assert from "node:assert/strict";
import { isPactError } from "../../shared/errors/mod.ts";
import { EtcdCluster, skipWithoutEtcd } from "../../tests/harness/etcd_cluster.ts";
import { TestCa } from "../../tests/harness/test_ca.ts";
import { record, storeConformance } from "./conformance.ts";
import {
  connectEtcd,
  ETCD_DEFAULT_SERVER_LIMITS,
  EtcdStore,
  etcdStoreLimits,
  MANAGED_ETCD_SERVER_LIMITS,
} from "./etcd_store.ts";
import { GRPCUnavailableError } from "etcd3";
import { clearNoSpaceAlarm, clusterStatus, compactSuperseded, defragment } from "./etcd_upkeep.ts";
import { type EntryRecord, StoreConflictError } from "./port.ts";

const ignore = skipWithoutEtcd("journal/store/etcd_store_test.ts");

// One single-member cluster serves the conformance suite and the
// single-member tests; it starts when the file loads (so its processes
// belong to no test) and the last test stops it. Every fixture writes
// under a fresh key prefix, so cases never see each other's records.
const single = ignore ? undefined : await EtcdCluster.start({ members: 1 });
if (single !== undefined) globalThis.addEventListener("unload", () => single.stopNow());

function freshPrefix(): string {
  return `test/${crypto.randomUUID()}/`;
}

function openOn(endpoints: readonly string[], prefix: string, options: object = {}) {
  return EtcdStore.open({ endpoints, prefix, server: MANAGED_ETCD_SERVER_LIMITS, ...options });
}

function batch(from: number, count: number, scope = "global", size = 16): EntryRecord[] {
  return Array.from({ length: count }, (_, i) => record(from + i, scope, 1, size));
}

/** Resolves once `check()` holds, polling every 20 ms; fails after `timeoutMs`. */
async function eventually(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > giveUpAt) throw new Error(`Timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

if (single === undefined) {
  Deno.test({ name: "EtcdStore store conformance (needs etcd)", ignore: true, fn() {} });
} else {
  storeConformance("EtcdStore", () => {
    const prefix = freshPrefix();
    return Promise.resolve({
      open: () => openOn(single.endpoints, prefix),
      dispose: () => Promise.resolve(),
    });
  });
}

Deno.test({
  name: "etcdStoreLimits() leaves one operation for the head and room for framing",
  fn() {
    assert.deepEqual(etcdStoreLimits(ETCD_DEFAULT_SERVER_LIMITS), {
      maxBatchEntries: 127,
      maxBatchBytes: 1024 * 1024,
    });
    assert.deepEqual(etcdStoreLimits(MANAGED_ETCD_SERVER_LIMITS), {
      maxBatchEntries: 1023,
      maxBatchBytes: 7 * 1024 * 1024,
    });
  },
});

Deno.test({
  name: "EtcdStore appends batches at its limits and refuses larger ones with RangeError",
  ignore,
  async fn() {
    const store = await openOn(single!.endpoints, freshPrefix());
    try {
      await store.append(batch(0, 1023));
      const mib = 1024 * 1024;
      await store.append(batch(1023, 7, "vc:big", mib));
      assert.equal(await store.nextSequence(), 1030);
      await assert.rejects(store.append(batch(1030, 1024)), RangeError);
      await assert.rejects(store.append(batch(1030, 8, "vc:big", mib)), RangeError);
      await assert.rejects(store.append([record(1030, "x".repeat(70_000))]), RangeError);
      assert.equal(await store.nextSequence(), 1030);
      const big = await store.read({ fromSequence: 1023, limit: 10 });
      assert.deepEqual(big.map((r) => r.data.length), Array(7).fill(mib));
    } finally {
      await store.close();
    }
  },
});

Deno.test({
  name: "EtcdStore with default limits fits an etcd started with default flags",
  ignore,
  async fn() {
    await using cluster = await EtcdCluster.start({
      args: ["--max-txn-ops=128", "--max-request-bytes=1572864"],
    });
    const store = await EtcdStore.open({ endpoints: cluster.endpoints, prefix: freshPrefix() });
    try {
      assert.deepEqual(store.limits, { maxBatchEntries: 127, maxBatchBytes: 1024 * 1024 });
      await store.append(batch(0, 127));
      await store.append(batch(127, 1, "vc:big", 1024 * 1024));
      await assert.rejects(store.append(batch(128, 128)), RangeError);
      assert.equal(await store.nextSequence(), 128);
    } finally {
      await store.close();
    }
  },
});

Deno.test({
  name: "EtcdStore retries an append whose answer was lost and finds its own commit",
  ignore,
  async fn() {
    const client = connectEtcd({ endpoints: single!.endpoints });
    // The real etcd commits the first transaction; its answer is then
    // dropped, as when a member dies between commit and reply.
    const txn = client.kv.txn.bind(client.kv);
    let answersLost = 0;
    client.kv.txn = async (...args: Parameters<typeof txn>) => {
      const res = await txn(...args);
      if (answersLost++ === 0) throw new GRPCUnavailableError("14 UNAVAILABLE: answer lost (test)");
      return res;
    };
    const store = new EtcdStore(client, { prefix: freshPrefix() });
    try {
      await store.append(batch(0, 3));
      assert.equal(answersLost, 2);
      assert.equal(await store.nextSequence(), 3);
      // A first attempt that meets the same records is a conflict, as in SQLite.
      await assert.rejects(store.append(batch(0, 3)), StoreConflictError);
      assert.deepEqual((await store.read({ limit: 10 })).map((r) => r.sequence), [0, 1, 2]);
    } finally {
      await store.close();
      client.close();
    }
  },
});

Deno.test({
  name: "EtcdStore.open() fails with UNAVAILABLE naming the endpoint when etcd is unreachable",
  ignore,
  async fn() {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const endpoint = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
    listener.close();
    await assert.rejects(
      EtcdStore.open({ endpoints: [endpoint], operationTimeoutMs: 1_000, callTimeoutMs: 500 }),
      (err: unknown) => {
        assert.ok(isPactError(err, "UNAVAILABLE"), String(err));
        assert.match(err.message, new RegExp(`etcd at ${endpoint} is unavailable`));
        assert.ok(!err.message.includes("\n"));
        return true;
      },
    );
  },
});

Deno.test({
  name: "clearNoSpaceAlarm() compacts, defragments and disarms so that appends work again",
  ignore,
  async fn() {
    const client = connectEtcd({ endpoints: single!.endpoints });
    const store = await openOn(single!.endpoints, freshPrefix());
    try {
      await store.append(batch(0, 5));
      assert.deepEqual(await clearNoSpaceAlarm(client, single!.endpoints), { cleared: false });
      const status = await clusterStatus(client);
      await client.maintenance.alarm({
        action: "Activate",
        memberID: status.leaderId!,
        alarm: "Nospace",
      });
      assert.deepEqual((await clusterStatus(client)).alarms, [
        { memberId: status.leaderId!, alarm: "NOSPACE" },
      ]);
      await assert.rejects(store.append(batch(5, 1)), (err: unknown) => {
        assert.ok(isPactError(err, "RESOURCE_EXHAUSTED"), String(err));
        assert.match(err.message, /NOSPACE/);
        return true;
      });
      const recovery = await clearNoSpaceAlarm(client, single!.endpoints);
      assert.equal(recovery.cleared, true);
      assert.ok(recovery.compaction?.compactedTo !== undefined);
      assert.deepEqual(recovery.defragmented?.map((d) => d.ok), [true]);
      assert.deepEqual((await clusterStatus(client)).alarms, []);
      await store.append(batch(5, 1));
      assert.equal((await store.read({ limit: 100 })).length, 6);
    } finally {
      await store.close();
      client.close();
    }
  },
});

Deno.test({
  name: "EtcdStore speaks TLS with a client certificate when given the PEM material",
  ignore: ignore || !onPath("openssl"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pact-test-etcd-tls-" });
    try {
      const pem = await makeCertificates(dir);
      await using cluster = await EtcdCluster.start({
        tls: {
          certFile: `${dir}/server.crt`,
          keyFile: `${dir}/server.key`,
          caFile: `${dir}/ca.crt`,
        },
      });
      assert.match(cluster.endpoint(0), /^https:\/\/127\.0\.0\.1:/);
      const credentials = { ca: pem.ca, cert: pem.clientCert, key: pem.clientKey };
      // Deno's TLS refuses an IP address as server name: connectEtcd says so at once.
      assert.throws(
        () => connectEtcd({ endpoints: cluster.endpoints, tls: credentials }),
        TypeError,
      );
      const tls = { ...credentials, serverName: "pact-etcd" };
      const prefix = freshPrefix();
      const store = await EtcdStore.open({ endpoints: cluster.endpoints, tls, prefix });
      const byName = await EtcdStore.open({
        endpoints: cluster.endpoints.map((e) => e.replace("127.0.0.1", "localhost")),
        tls: credentials,
        prefix,
      });
      const client = connectEtcd({ endpoints: cluster.endpoints, tls });
      try {
        await store.append(batch(0, 3));
        assert.equal((await byName.read({ limit: 10 })).length, 3);
        const status = await clusterStatus(client, { tls });
        assert.ok(status.members.every((m) => m.health.ok));
      } finally {
        await store.close();
        await byName.close();
        client.close();
      }
      // Without a client certificate etcd refuses the connection.
      await assert.rejects(
        EtcdStore.open({
          endpoints: cluster.endpoints,
          tls: { ca: pem.ca, serverName: "pact-etcd" },
          operationTimeoutMs: 1_000,
        }),
        (err: unknown) => isPactError(err, "UNAVAILABLE"),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "EtcdStore on a 3-member cluster",
  ignore,
  async fn(t) {
    await using cluster = await EtcdCluster.start({ members: 3 });
    const prefix = freshPrefix();
    const stores: EtcdStore[] = [];
    const open = async (endpoints: readonly string[], options: object = {}) => {
      const store = await openOn(endpoints, prefix, options);
      stores.push(store);
      return store;
    };
    const stopWatches: (() => void)[] = [];
    const client = connectEtcd({ endpoints: cluster.endpoints });
    try {
      const a = await open([cluster.endpoint(0)]);
      const b = await open([cluster.endpoint(1)]);

      await t.step("writers on two members race: one wins each sequence", async () => {
        for (let sequence = 0; sequence < 10; sequence++) {
          const results = await Promise.allSettled([
            a.append([record(sequence, "node:a")]),
            b.append([record(sequence, "node:b")]),
          ]);
          const won = results.filter((r) => r.status === "fulfilled");
          const lost = results.filter((r) => r.status === "rejected");
          assert.equal(won.length, 1, `sequence ${sequence}`);
          assert.ok(lost[0]?.status === "rejected" && lost[0].reason instanceof StoreConflictError);
        }
        const log = await b.read({ limit: 100 });
        assert.deepEqual(log.map((r) => r.sequence), [...Array(10).keys()]);
        assert.equal(await a.nextSequence(), 10);
      });

      await t.step("watchHead() sees another writer's appends", async () => {
        const seen: number[] = [];
        stopWatches.push(a.watchHead(5, (next) => seen.push(next), (err) => {
          throw err;
        }));
        await eventually("the watch reports the current head", () => seen.at(-1) === 10);
        await b.append(batch(10, 2));
        await b.append(batch(12, 3));
        await eventually("the watch reports 15", () => seen.at(-1) === 15);
        assert.deepEqual(seen, [...seen].sort((x, y) => x - y));
        assert.equal(new Set(seen).size, seen.length);
      });

      await t.step("reads, writes and watches survive SIGKILL of the leader", async () => {
        const leader = await cluster.leader();
        const others = [0, 1, 2].filter((i) => i !== leader);
        const onLeader = await open([cluster.endpoint(leader)], { headPollMs: 0 });
        const onAll = await open(cluster.endpoints, { headPollMs: 0 });
        const reader = await open(others.map((i) => cluster.endpoint(i)));
        const seenOnLeader: number[] = [];
        const seenOnAll: number[] = [];
        const errors: Error[] = [];
        stopWatches.push(
          onLeader.watchHead(15, (n) => seenOnLeader.push(n), (e) => errors.push(e)),
          onAll.watchHead(15, (n) => seenOnAll.push(n), (e) => errors.push(e)),
        );
        await new Promise((resolve) => setTimeout(resolve, 200)); // let both watches attach
        const before = await reader.read({ limit: 100 });
        await cluster.kill(leader);
        const after = await reader.read({ limit: 100 });
        assert.deepEqual(after, before);
        await reader.append(batch(15, 2));
        assert.notEqual(await cluster.leader(), leader);
        await eventually("the watch over all members sees 17", () => seenOnAll.at(-1) === 17);

        const status = await clusterStatus(client);
        assert.equal(status.members.length, 3);
        assert.equal(status.members.filter((m) => m.isLeader).length, 1);
        assert.equal(status.members.filter((m) => !m.health.ok).length, 1);

        await cluster.restart(leader);
        await eventually(
          "the watch on the restarted member sees 17",
          () => seenOnLeader.at(-1) === 17,
        );
        assert.deepEqual(errors, []);
      });

      await t.step(
        "a watch whose revision was compacted while its member was down resumes",
        async () => {
          const leader = await cluster.leader();
          const follower = [0, 1, 2].find((i) => i !== leader)!;
          const watching = await open([cluster.endpoint(follower)], { headPollMs: 0 });
          const writer = await open(cluster.endpoints);
          const start = await writer.nextSequence();
          const seen: number[] = [];
          const errors: Error[] = [];
          stopWatches.push(watching.watchHead(start, (n) => seen.push(n), (e) => errors.push(e)));
          await writer.append(batch(start, 1));
          await eventually("the watch sees the first append", () => seen.at(-1) === start + 1);
          await cluster.kill(follower);
          for (let i = 1; i <= 5; i++) await writer.append(batch(start + i, 1));
          await compactSuperseded(client, 0);
          await cluster.restart(follower);
          await eventually(
            "the watch catches up after compaction",
            () => seen.at(-1) === start + 6,
          );
          assert.deepEqual(errors, []);
        },
      );

      await t.step(
        "compaction keeps every record; status shows 3 members, one leader",
        async () => {
          await a.append(batch(await a.nextSequence(), 20, "node:c"));
          const compaction = await compactSuperseded(client, 0);
          assert.ok(compaction.compactedTo !== undefined && compaction.compactedTo > 1);
          const again = await compactSuperseded(client, 1_000_000);
          assert.equal(again.compactedTo, undefined);
          const next = await a.nextSequence();
          const all = await a.read({ limit: 1000 });
          assert.deepEqual(all.map((r) => r.sequence), [...Array(next).keys()]);
          assert.equal((await a.read({ scope: "node:c", limit: 100 })).length, 20);

          const defrag = await defragment(cluster.endpoints);
          assert.deepEqual(defrag.map((d) => d.ok), [true, true, true]);
          const status = await clusterStatus(client);
          assert.equal(status.members.length, 3);
          assert.equal(status.members.filter((m) => m.isLeader).length, 1);
          assert.ok(status.members.every((m) => m.health.ok));
          assert.ok(status.leaderId !== undefined);
          assert.ok(status.raftTerm > 0 && status.raftIndex > 0 && status.dbSizeBytes > 0);
          assert.ok(status.dbSizeInUseBytes > 0 && status.dbSizeInUseBytes <= status.dbSizeBytes);
          assert.match(status.version, /^3\./);
          assert.deepEqual(status.alarms, []);
        },
      );
    } catch (err) {
      const logs = await Promise.all([0, 1, 2].map((i) => cluster.log(i)));
      console.error(logs.map((l, i) => `--- etcd member ${i} ---\n${l}`).join("\n"));
      throw err;
    } finally {
      for (const stop of stopWatches) stop();
      for (const store of stores) await store.close();
      client.close();
    }
  },
});

Deno.test({
  name: "EtcdStore tests stop the shared etcd cluster",
  ignore,
  async fn() {
    await single!.stop();
  },
});

function onPath(command: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((dir) => {
    try {
      return Deno.statSync(`${dir}/${command}`).isFile;
    } catch {
      return false;
    }
  });
}

/** A throw-away CA, a server certificate for 127.0.0.1 and a client certificate, via openssl. */
async function makeCertificates(dir: string) {
  const ca = await TestCa.create(dir);
  for (const [name, usage] of [["server", "serverAuth"], ["client", "clientAuth"]] as const) {
    await ca.issue(name, "IP:127.0.0.1,DNS:localhost,DNS:pact-etcd", usage);
  }
  const read = (file: string) => Deno.readFile(`${dir}/${file}`);
  return {
    ca: await read("ca.crt"),
    clientCert: await read("client.crt"),
    clientKey: await read("client.key"),
  };
}
