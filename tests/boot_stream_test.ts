/**
 * BootConfigService against real pact-journal processes: a client that
 * reassembles, verifies and inflates the boot stream; the last-known-version
 * short-circuit; identical bytes from two journals over the same data; the
 * boot-stream cap; subscription replay, live updates and slow subscribers.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { zstdDecompressSync } from "node:zlib";
import {
  type ClientReadableStream,
  credentials,
  Metadata,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import { JournalClient } from "../cli/client/journal_client.ts";
import {
  BlacklistChange,
  type ConfigEntry,
  DeclaredState,
  DeltaAction,
  EnrollmentRecord,
  EntryType,
  StateDelta,
  UpdateKind,
} from "../shared/proto/gen/pact/config/config.ts";
import {
  type BootConfigChunk,
  BootConfigRequest,
  BootConfigServiceClient,
  type ConfigComplete,
  type ConfigUpdate,
  NodeDeltaEntries,
  type SubscribeRequest,
} from "../shared/proto/gen/pact/stream/stream.ts";
import { commit, entry, policyUpdate } from "../shared/testing/entries.ts";
import { runPact } from "./harness/cli_process.ts";
import { JournalProcess } from "./harness/journal_process.ts";
import { StalledGrpcCall } from "./harness/stalled_grpc_client.ts";

const CHUNK_BYTES = 64 * 1024;

/** What a booting node ends up with after verifying every check on the wire. */
interface Booted {
  readonly messages: BootConfigChunk[];
  readonly overlayData: Uint8Array | undefined;
  readonly overlay: DeclaredState | undefined;
  readonly deltaData: Uint8Array | undefined;
  readonly delta: ConfigEntry[] | undefined;
  readonly complete: ConfigComplete;
}

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

/** A raw BootConfigService client, as an agent would hold one. */
class BootClient {
  readonly #client: InstanceType<typeof BootConfigServiceClient>;
  readonly #token: string;

  constructor(journal: JournalProcess, token: string) {
    this.#client = new BootConfigServiceClient(
      journal.grpcAddress,
      credentials.createInsecure(),
      { "grpc.max_receive_message_length": 16 * 1024 * 1024 },
    );
    this.#token = token;
  }

  static async open(journal: JournalProcess): Promise<BootClient> {
    return new BootClient(journal, await journal.token("pact-service-agent", "agent-n1", "agent"));
  }

  stream(request: Partial<BootConfigRequest>): ClientReadableStream<BootConfigChunk> {
    return this.#client.streamBootConfig({ nodeId: "", vclusterId: "", ...request }, this.#auth());
  }

  subscribe(request: Partial<SubscribeRequest>): ClientReadableStream<ConfigUpdate> {
    return this.#client.subscribeConfigUpdates(
      {
        nodeId: "",
        vclusterId: "",
        fromSequence: 0,
        fromHead: false,
        scope: undefined,
        ...request,
      },
      this.#auth(),
    );
  }

  /** Streams, reassembles and verifies a whole boot. */
  async boot(request: Partial<BootConfigRequest>): Promise<Booted> {
    const messages: BootConfigChunk[] = [];
    for await (const m of this.stream(request)) messages.push(m as BootConfigChunk);
    return verify(messages);
  }

  close(): void {
    this.#client.close();
  }

  #auth(): Metadata {
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${this.#token}`);
    return metadata;
  }
}

/** Checks the phase order, chunk numbering and both checksums, then inflates. */
function verify(messages: BootConfigChunk[]): Booted {
  const chunks = messages.flatMap((m) => m.chunk?.$case === "overlay" ? [m.chunk.value] : []);
  const deltas = messages.flatMap((m) => m.chunk?.$case === "nodeDelta" ? [m.chunk.value] : []);
  const last = messages.at(-1)?.chunk;
  assert.ok(last?.$case === "complete", "the stream ends with ConfigComplete");
  assert.equal(messages.filter((m) => m.chunk?.$case === "complete").length, 1);
  // Phase order: every overlay chunk before the node delta.
  const order = messages.map((m) => m.chunk?.$case);
  assert.deepEqual(order, [...order].sort((a, b) => rank(a) - rank(b)));
  let overlayData: Uint8Array | undefined;
  let overlay: DeclaredState | undefined;
  if (chunks.length > 0) {
    const first = chunks[0]!;
    chunks.forEach((c, i) => {
      assert.equal(c.chunkIndex, i);
      assert.equal(c.totalChunks, chunks.length);
      assert.equal(c.checksum, first.checksum);
      assert.ok(c.data.length <= CHUNK_BYTES);
    });
    overlayData = concat(chunks.map((c) => c.data));
    assert.equal(sha256(overlayData), first.checksum, "compressed checksum");
    assert.equal(first.encoding, "zstd");
    const content = new Uint8Array(
      zstdDecompressSync(overlayData, { maxOutputLength: Math.max(1, first.contentBytes) }),
    );
    assert.equal(content.length, first.contentBytes);
    assert.equal(sha256(content), first.contentChecksum, "uncompressed checksum");
    overlay = DeclaredState.decode(content);
  }
  const delta = deltas[0];
  if (delta) assert.equal(sha256(delta.data), delta.checksum, "node delta checksum");
  return {
    messages,
    overlayData,
    overlay,
    deltaData: delta?.data,
    delta: delta && NodeDeltaEntries.decode(delta.data).entries,
    complete: last.value,
  };
}

function rank(kind: string | undefined): number {
  return kind === "overlay" ? 0 : kind === "nodeDelta" ? 1 : 2;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A spec whose overlay compresses to more than one chunk: many sysctls with random values. */
function bigSpec(vcluster: string, count: number): string {
  const lines = [`[vcluster.${vcluster}.sysctl]`];
  for (let i = 0; i < count; i++) {
    const value = [...crypto.getRandomValues(new Uint8Array(24))]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    lines.push(`"pact.test.key${i}" = "${value}"`);
  }
  return `${
    lines.join("\n")
  }\n[vcluster.${vcluster}.mounts."/scratch"]\ntype = "nfs"\nsource = "s:/scratch"\n`;
}

async function pactApply(journal: JournalProcess, spec: string): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pact-test-spec-" });
  try {
    await Deno.writeTextFile(`${dir}/spec.toml`, spec);
    const env = { PACT_ENDPOINT: journal.endpoint, PACT_TOKEN: await journal.token() };
    const result = await runPact(["apply", `${dir}/spec.toml`], env);
    assert.equal(result.code, 0, result.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function adminClient(journal: JournalProcess): Promise<JournalClient> {
  return new JournalClient({
    endpoint: journal.endpoint,
    token: await journal.token(),
    timeoutSeconds: 20,
  });
}

/** Node n1 in vCluster `vc`, with one committed delta: hugepages (then superseded) and swappiness. */
async function seedNode(admin: JournalClient, vc: string): Promise<void> {
  await admin.appendEntry({
    entry: entry(EntryType.NODE_ASSIGNED, { kind: "node", id: "n1" }, {
      payload: { $case: "enrollment", value: EnrollmentRecord.fromPartial({ vclusterId: vc }) },
    }),
  });
  await admin.appendEntry({
    entry: commit("n1", "local tuning", {
      payload: {
        $case: "stateDelta",
        value: StateDelta.fromPartial({
          kernel: [
            { key: "pact.test.key0", action: DeltaAction.MODIFY, declaredValue: "local" },
            { key: "vm.swappiness", action: DeltaAction.MODIFY, declaredValue: "1" },
          ],
        }),
      },
    }),
  });
}

async function withJournal(
  body: (journal: JournalProcess) => Promise<void>,
  config = "",
): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "pact-test-boot-" });
  await Deno.writeTextFile(`${dataDir}/journal.toml`, config);
  const journal = await JournalProcess.start({ dataDir });
  try {
    await body(journal);
  } finally {
    await journal.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
}

function deltaKeys(entries: ConfigEntry[] | undefined): string[] {
  return (entries ?? []).flatMap((e) =>
    e.payload?.$case === "stateDelta" ? e.payload.value.kernel.map((k) => k.key) : []
  );
}

Deno.test("StreamBootConfig sends chunked zstd overlay, node delta and completion that verify end to end", async () => {
  await withJournal(async (journal) => {
    const admin = await adminClient(journal);
    const boot = await BootClient.open(journal);
    try {
      await seedNode(admin, "ml");
      // The overlay is applied after the node's commit: it supersedes key0 but not swappiness.
      await pactApply(journal, bigSpec("ml", 4000));
      const booted = await boot.boot({ nodeId: "n1" });
      const chunks = booted.messages.filter((m) => m.chunk?.$case === "overlay").length;
      assert.ok(chunks >= 2, `expected several chunks, got ${chunks}`);
      assert.equal(Object.keys(booted.overlay!.sysctl).length, 4000);
      assert.equal(booted.overlay!.mounts[0]!.spec!.source, "s:/scratch");
      assert.deepEqual(deltaKeys(booted.delta), ["vm.swappiness"]);
      assert.equal(booted.complete.vclusterId, "ml");
      assert.equal(booted.complete.nodeVersion, 1);
      assert.equal(booted.complete.baseVersion, 2);
      assert.equal(booted.complete.configVersion, 2);
      assert.equal(booted.complete.unchanged, false);
    } finally {
      boot.close();
      admin.close();
    }
  });
});

Deno.test("StreamBootConfig sends only the completion while last_known_version is current", async () => {
  await withJournal(async (journal) => {
    const admin = await adminClient(journal);
    const boot = await BootClient.open(journal);
    try {
      await seedNode(admin, "ml");
      await pactApply(journal, `[vcluster.ml.sysctl]\n"vm.nr_hugepages" = "1024"\n`);
      const first = await boot.boot({ nodeId: "n1" });
      const again = await boot.boot({
        nodeId: "n1",
        lastKnownVersion: first.complete.configVersion,
      });
      assert.deepEqual(again.messages.map((m) => m.chunk?.$case), ["complete"]);
      assert.equal(again.complete.unchanged, true);
      assert.equal(again.complete.configVersion, first.complete.configVersion);

      // A policy change alone does not resend the overlay; it rides on the completion.
      await admin.appendEntry({ entry: policyUpdate("ml", { enforcementMode: "enforce" }) });
      const policy = await boot.boot({
        nodeId: "n1",
        lastKnownVersion: first.complete.configVersion,
      });
      assert.equal(policy.complete.unchanged, true);
      assert.equal(policy.complete.policy?.enforcementMode, "enforce");

      // A new overlay change (or node delta) sends everything again.
      await pactApply(journal, `[vcluster.ml.sysctl]\n"vm.nr_hugepages" = "2048"\n`);
      const changed = await boot.boot({
        nodeId: "n1",
        lastKnownVersion: first.complete.configVersion,
      });
      assert.equal(changed.complete.unchanged, false);
      assert.equal(changed.overlay!.sysctl["vm.nr_hugepages"], "2048");
    } finally {
      boot.close();
      admin.close();
    }
  });
});

Deno.test("Two journals restored from the same data serve byte-identical boot streams", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "pact-test-boot-a-" });
  const copyDir = `${dataDir}-copy`;
  await Deno.writeTextFile(`${dataDir}/journal.toml`, "");
  try {
    let journal = await JournalProcess.start({ dataDir });
    try {
      const admin = await adminClient(journal);
      try {
        await seedNode(admin, "ml");
      } finally {
        admin.close();
      }
      await pactApply(journal, bigSpec("ml", 3000));
    } finally {
      await journal.stop();
    }
    const copied = await new Deno.Command("cp", { args: ["-a", dataDir, copyDir] }).output();
    assert.equal(copied.code, 0);
    journal = await JournalProcess.start({ dataDir });
    const replica = await JournalProcess.start({ dataDir: copyDir });
    const a = await BootClient.open(journal);
    const b = await BootClient.open(replica);
    try {
      const [fromA, fromB] = await Promise.all([
        a.boot({ nodeId: "n1" }),
        b.boot({ nodeId: "n1" }),
      ]);
      assert.ok(fromA.overlayData && fromA.overlayData.length > CHUNK_BYTES);
      assert.deepEqual(fromA.overlayData, fromB.overlayData);
      assert.deepEqual(fromA.deltaData, fromB.deltaData);
      const strip = (c: ConfigComplete) => ({ ...c, timestamp: undefined });
      assert.deepEqual(strip(fromA.complete), strip(fromB.complete));
    } finally {
      a.close();
      b.close();
      await journal.stop();
      await replica.stop();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
    await Deno.remove(copyDir, { recursive: true }).catch(() => {});
  }
});

async function metric(journal: JournalProcess, name: string): Promise<number> {
  const text = await (await fetch(`${journal.httpUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.split(" ").at(-1));
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

Deno.test("StreamBootConfig beyond max_concurrent_boot_streams answers RESOURCE_EXHAUSTED with retry-after-ms", async () => {
  const config = "[journal.streaming]\nmax_concurrent_boot_streams = 2\n";
  await withJournal(async (journal) => {
    const boot = await BootClient.open(journal);
    const token = await journal.token("pact-service-agent", "agent", "agent");
    const held: StalledGrpcCall[] = [];
    try {
      await pactApply(journal, bigSpec("ml", 100));
      // Two nodes that ask for their config and then do not read it hold their slots.
      for (const nodeId of ["stuck-1", "stuck-2"]) {
        held.push(
          await StalledGrpcCall.start(
            journal.grpcAddress,
            "/pact.stream.BootConfigService/StreamBootConfig",
            BootConfigRequest.encode(BootConfigRequest.fromPartial({ nodeId, vclusterId: "ml" }))
              .finish(),
            token,
          ),
        );
      }
      await waitFor(
        "two active boot streams",
        async () => await metric(journal, "pact_journal_boot_streams_active") === 2,
      );
      const refused = await new Promise<ServiceError>((resolve, reject) => {
        const call = boot.stream({ nodeId: "node-0042", vclusterId: "ml" });
        call.on("data", () => {});
        call.on("error", (err) => resolve(err as ServiceError));
        call.on("end", () => reject(new Error("the third stream was not refused")));
      });
      assert.equal(refused.code, status.RESOURCE_EXHAUSTED);
      assert.match(refused.details, /Too many boot streams \(2 active\): retry in \d+ ms/);
      const retryAfter = Number(refused.metadata.get("retry-after-ms")[0]);
      assert.ok(retryAfter >= 1000 && retryAfter < 5000, `retry-after-ms ${retryAfter}`);
      assert.match(refused.details, new RegExp(`retry in ${retryAfter} ms`));
      assert.equal(refused.metadata.get("pact-error-code")[0], "RESOURCE_EXHAUSTED");

      // Once the stuck nodes give up, their slots are free again. (A node that
      // vanishes without a word is noticed by the HTTP/2 keepalive, within 80 s.)
      for (const call of held) await call.cancel();
      await waitFor(
        "the held streams to end",
        async () => await metric(journal, "pact_journal_boot_streams_active") === 0,
      );
      const booted = await boot.boot({ nodeId: "node-0042", vclusterId: "ml" });
      assert.equal(Object.keys(booted.overlay!.sysctl).length, 100);
    } finally {
      for (const call of held) call.close();
      boot.close();
    }
  }, config);
});

Deno.test("A boot storm of 1000 concurrent streams compresses the overlay once", async () => {
  await withJournal(async (journal) => {
    const admin = await adminClient(journal);
    const boot = await BootClient.open(journal);
    try {
      await pactApply(journal, bigSpec("storm", 2000));
      const results = await Promise.all(
        Array.from({ length: 1000 }, (_, i) => boot.boot({ nodeId: `n${i}`, vclusterId: "storm" })),
      );
      const first = results[0]!.overlayData!;
      assert.ok(results.every((r) => r.overlayData!.length === first.length));
      const builds = journal.log.split("\n").filter((l) =>
        l.includes("Built overlay of vCluster storm")
      );
      assert.equal(builds.length, 1, journal.log);
    } finally {
      boot.close();
      admin.close();
    }
  });
});

/** Reads updates from a subscription into an array as they come. */
function collect(call: ClientReadableStream<ConfigUpdate>) {
  const updates: ConfigUpdate[] = [];
  let error: ServiceError | undefined;
  call.on("data", (u: ConfigUpdate) => updates.push(u));
  call.on("error", (err) => (error = err as ServiceError));
  return { updates, error: () => error };
}

Deno.test("SubscribeConfigUpdates replays from from_sequence, then streams typed live updates", async () => {
  await withJournal(async (journal) => {
    const admin = await adminClient(journal);
    const boot = await BootClient.open(journal);
    try {
      await seedNode(admin, "ml"); // seq 0 assignment, seq 1 node commit
      await admin.appendEntry({ entry: commit("n2", "another node") }); // seq 2: not for n1
      const call = boot.subscribe({ nodeId: "n1", fromSequence: 1 });
      const seen = collect(call);
      await waitFor("the replay", () => Promise.resolve(seen.updates.length >= 1));

      await pactApply(journal, `[vcluster.ml.sysctl]\n"vm.swappiness" = "10"\n`); // seq 3
      await admin.appendEntry({ entry: policyUpdate("ml", { enforcementMode: "warn" }) }); // seq 4
      await admin.appendEntry({
        entry: entry(EntryType.BLACKLIST_CHANGE, { kind: "global" }, {
          payload: { $case: "blacklist", value: BlacklistChange.fromPartial({ add: ["/tmp/*"] }) },
        }),
      }); // seq 5
      await admin.appendEntry({ entry: policyUpdate("other") }); // seq 6: another vCluster
      await waitFor("the live updates", () => Promise.resolve(seen.updates.length >= 4));
      await new Promise((resolve) => setTimeout(resolve, 200));
      call.cancel();

      const updates = seen.updates.filter((u) => u.kind !== UpdateKind.HEARTBEAT);
      assert.deepEqual(updates.map((u) => [u.sequence, UpdateKind[u.kind]]), [
        [1, "NODE_DELTA"],
        [3, "OVERLAY"],
        [4, "POLICY"],
        [5, "BLACKLIST"],
      ]);
      const overlay = updates[1]!.entry!.payload;
      assert.ok(overlay?.$case === "declared");
      assert.deepEqual(overlay.value.sysctl, { "vm.swappiness": "10" });
      const blacklist = updates[3]!.entry!.payload;
      assert.ok(blacklist?.$case === "blacklist" && blacklist.value.add[0] === "/tmp/*");
    } finally {
      boot.close();
      admin.close();
    }
  });
});
