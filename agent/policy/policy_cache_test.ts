import assert from "node:assert/strict";
import { ManualClock } from "../../shared/clock/clock.ts";
import { EntryType, VClusterPolicy } from "../../shared/proto/gen/pact/config/config.ts";
import { entry, policyUpdate } from "../../shared/testing/entries.ts";
import { sandboxHost } from "../host/sandbox_host.ts";
import { catchUpPolicy } from "./catch_up.ts";
import {
  ageText,
  BOOT_SEQUENCE,
  type BootPolicy,
  PolicyCache,
  type PolicyCacheOptions,
} from "./policy_cache.ts";
import { POLICY_CACHE_FILE, PolicyStore } from "./policy_store.ts";

const STATE_DIR = "/var/lib/pact";

interface Fixture {
  readonly root: string;
  readonly store: PolicyStore;
  readonly clock: ManualClock;
  readonly lines: string[];
  options(overrides?: Partial<PolicyCacheOptions>): PolicyCacheOptions;
}

async function fixture(): Promise<Fixture> {
  const root = await Deno.makeTempDir({ prefix: "pact-policy-cache-" });
  const store = new PolicyStore(sandboxHost(root).files, STATE_DIR);
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const lines: string[] = [];
  return {
    root,
    store,
    clock,
    lines,
    options: (overrides = {}) => ({
      nodeId: "n1",
      vcluster: "ml",
      store,
      clock,
      log: (line) => lines.push(line),
      ...overrides,
    }),
  };
}

const bootPolicy = (execWhitelist: string[]): VClusterPolicy =>
  VClusterPolicy.fromPartial({ vclusterId: "ml", policyId: "boot", execWhitelist });

function update(vcluster: string, sequence: number, policy: Partial<VClusterPolicy>) {
  return { ...policyUpdate(vcluster, policy), sequence };
}

async function withFixture(body: (f: Fixture) => Promise<void>): Promise<void> {
  const f = await fixture();
  try {
    await body(f);
  } finally {
    await Deno.remove(f.root, { recursive: true });
  }
}

const fresh = (policy: VClusterPolicy | undefined): BootPolicy => ({ policy, fromCache: false });
const partitioned = (policy: VClusterPolicy | undefined): BootPolicy => ({
  policy,
  fromCache: true,
});

Deno.test("PolicyCache.open() after a boot from the journal holds and saves the boot's policy", async () => {
  await withFixture(async (f) => {
    const cache = await PolicyCache.open(f.options(), fresh(bootPolicy(["seq"])));
    assert.deepEqual(cache.policy?.execWhitelist, ["seq"]);
    assert.equal(cache.snapshot.source, "boot");
    const saved = await f.store.load();
    assert.deepEqual(saved?.policy.execWhitelist, ["seq"]);
    assert.equal(saved?.sequence, BOOT_SEQUENCE);
    const mode = (await Deno.stat(`${f.root}${STATE_DIR}/${POLICY_CACHE_FILE}`)).mode! & 0o777;
    assert.equal(mode, 0o600);
  });
});

Deno.test("PolicyCache.apply() replaces the policy with a newer update of its vCluster and saves it", async () => {
  await withFixture(async (f) => {
    const cache = await PolicyCache.open(f.options(), fresh(bootPolicy(["seq"])));
    const heard: number[] = [];
    cache.onChange((snapshot) => heard.push(snapshot.sequence));
    f.clock.advance(5_000);
    assert.equal(cache.apply(update("ml", 7, { execWhitelist: ["nproc"] })), true);
    assert.deepEqual(cache.policy?.execWhitelist, ["nproc"]);
    assert.equal(cache.policy?.policyId, "seq-7");
    assert.equal(cache.policy?.vclusterId, "ml");
    assert.deepEqual(cache.snapshot, {
      policy: cache.policy,
      sequence: 7,
      source: "journal",
      receivedAtMs: f.clock.now(),
    });
    assert.deepEqual(heard, [7]);
    await cache.flushed();
    const saved = await f.store.load();
    assert.equal(saved?.sequence, 7);
    assert.deepEqual(saved?.policy.execWhitelist, ["nproc"]);
    assert.equal(saved?.receivedAtMs, f.clock.now());
    assert.match(f.lines.join("\n"), /vCluster ml seq:7 applied: .*exec_whitelist nproc/);
  });
});

Deno.test("PolicyCache.apply() ignores other vClusters' updates and other entry types", async () => {
  await withFixture(async (f) => {
    const cache = await PolicyCache.open(f.options(), fresh(bootPolicy(["seq"])));
    assert.equal(cache.apply(update("storage", 9, { execWhitelist: ["nproc"] })), false);
    assert.equal(
      cache.apply({ ...entry(EntryType.POLICY_UPDATE, { kind: "global" }), sequence: 10 }),
      false,
    );
    assert.equal(
      cache.apply({ ...entry(EntryType.COMMIT, { kind: "vcluster", id: "ml" }), sequence: 11 }),
      false,
    );
    assert.deepEqual(cache.policy?.execWhitelist, ["seq"]);
    assert.equal(cache.snapshot.sequence, BOOT_SEQUENCE);
  });
});

Deno.test("PolicyCache.apply() ignores an update not newer than the current one", async () => {
  await withFixture(async (f) => {
    const cache = await PolicyCache.open(f.options(), fresh(bootPolicy([])));
    assert.equal(cache.apply(update("ml", 12, { execWhitelist: ["nproc"] })), true);
    assert.equal(cache.apply(update("ml", 11, { execWhitelist: ["older"] })), false);
    assert.equal(cache.apply(update("ml", 12, { execWhitelist: ["again"] })), false);
    assert.deepEqual(cache.policy?.execWhitelist, ["nproc"]);
    assert.match(f.lines.join("\n"), /ignored seq:11 of vCluster ml: not newer than seq:12/);
    await cache.flushed();
    assert.equal((await f.store.load())?.sequence, 12);
  });
});

Deno.test("PolicyCache.open() when partitioned enforces the saved policy and logs its age", async () => {
  await withFixture(async (f) => {
    const first = await PolicyCache.open(f.options(), fresh(bootPolicy(["seq"])));
    first.apply(update("ml", 21, { execWhitelist: ["nproc"] }));
    await first.flushed();
    f.clock.advance(90_000);
    // The cached boot config still carries the policy of the earlier boot.
    const later = await PolicyCache.open(f.options(), partitioned(bootPolicy(["seq"])));
    assert.deepEqual(later.policy?.execWhitelist, ["nproc"]);
    assert.equal(later.snapshot.source, "cache");
    assert.equal(later.snapshot.sequence, 21);
    assert.match(
      f.lines.at(-1)!,
      /journal unreachable at boot: enforcing the CACHED policy of vCluster ml .*policy-cache\.json \(seq:21, received 2026-01-01T00:00:00\.000Z, age 90 s\)/,
    );
    // The journal comes back: only newer updates apply.
    assert.equal(later.apply(update("ml", 21, { execWhitelist: [] })), false);
    assert.equal(later.apply(update("ml", 22, { execWhitelist: [] })), true);
    await later.flushed();
  });
});

Deno.test("PolicyCache.open() when partitioned ignores a saved policy of another node or vCluster, or a corrupt one", async () => {
  await withFixture(async (f) => {
    const other = await PolicyCache.open(f.options({ vcluster: "storage" }), fresh(bootPolicy([])));
    other.apply(update("storage", 3, { execWhitelist: ["nproc"] }));
    await other.flushed();
    const cache = await PolicyCache.open(f.options(), partitioned(bootPolicy(["seq"])));
    assert.deepEqual(cache.policy?.execWhitelist, ["seq"]);
    assert.match(f.lines.join("\n"), /saved policy not used: .* vCluster storage, not n1 in ml/);
    await Deno.writeTextFile(`${f.root}${STATE_DIR}/${POLICY_CACHE_FILE}`, "{not json");
    const corrupt = await PolicyCache.open(f.options(), partitioned(bootPolicy(["seq"])));
    assert.deepEqual(corrupt.policy?.execWhitelist, ["seq"]);
    assert.match(f.lines.join("\n"), /saved policy not used: Cannot read policy cache .*not JSON/);
  });
});

Deno.test("PolicyCache.open() after a boot without a policy removes the saved one", async () => {
  await withFixture(async (f) => {
    const first = await PolicyCache.open(f.options(), fresh(bootPolicy(["seq"])));
    await first.flushed();
    await PolicyCache.open(f.options(), fresh(undefined));
    assert.equal(await f.store.load(), undefined);
  });
});

Deno.test("PolicyCache.apply() keeps working in memory when the policy cannot be saved", async () => {
  const lines: string[] = [];
  const store = new PolicyStore({
    read: () => Promise.resolve(undefined),
    write: () => Promise.reject(new Error("disk full")),
    remove: () => Promise.resolve(),
  }, STATE_DIR);
  const cache = await PolicyCache.open(
    { nodeId: "n1", vcluster: "ml", store, clock: new ManualClock(), log: (l) => lines.push(l) },
    fresh(bootPolicy([])),
  );
  assert.equal(cache.apply(update("ml", 2, { execWhitelist: ["nproc"] })), true);
  await cache.flushed();
  assert.deepEqual(cache.policy?.execWhitelist, ["nproc"]);
  assert.match(lines.join("\n"), /cannot save \/var\/lib\/pact\/policy-cache\.json: disk full/);
});

Deno.test("catchUpPolicy() applies the vCluster's newest update once the journal answers", async () => {
  await withFixture(async (f) => {
    const cache = await PolicyCache.open(f.options(), partitioned(bootPolicy([])));
    let calls = 0;
    const requests: unknown[] = [];
    const journal = {
      listEntries: (request: unknown) => {
        requests.push(request);
        calls++;
        if (calls === 1) return Promise.reject(new Error("unreachable"));
        return Promise.resolve([update("ml", 30, { execWhitelist: ["nproc"] })]);
      },
    };
    await catchUpPolicy(
      cache,
      () => journal,
      new AbortController().signal,
      (l) => f.lines.push(l),
      {
        baseMs: 1,
        maxMs: 1,
        attempts: 5,
      },
    );
    assert.equal(calls, 2);
    assert.deepEqual(cache.policy?.execWhitelist, ["nproc"]);
    assert.match(f.lines.join("\n"), /cannot read the vCluster policy .*unreachable.*cache policy/);
    assert.match(f.lines.join("\n"), /caught up with seq:30/);
    assert.equal((requests[0] as { limit: number }).limit, 1);
  });
});

Deno.test("ageText() names the age in the largest fitting unit", () => {
  assert.equal(ageText(42_000), "42 s");
  assert.equal(ageText(5 * 60_000), "5 min");
  assert.equal(ageText(3 * 3_600_000), "3 h");
  assert.equal(ageText(3 * 86_400_000), "3 d");
});

Deno.test("PolicyCache.apply() takes the journal's first entry (sequence 0) over the boot's policy", async () => {
  await withFixture(async (f) => {
    const cache = await PolicyCache.open(f.options(), fresh(bootPolicy([])));
    assert.equal(cache.apply(update("ml", 0, { execWhitelist: ["nproc"] })), true);
    assert.equal(cache.snapshot.sequence, 0);
    await cache.flushed();
  });
});
