/**
 * Authorization, OPA, degraded mode and two-person approval with real
 * processes: a real pact-journal, the `pact` CLI as a subprocess, and an
 * HTTP server implementing OPA's Data API (tests/harness/opa_server.ts).
 */
import assert from "node:assert/strict";
import type { PrincipalType } from "../shared/auth/principal.ts";
import { EnrollmentRecord, EntryType, UpdateKind } from "../shared/proto/gen/pact/config/config.ts";
import { entry } from "../shared/testing/entries.ts";
import { JournalClient } from "../cli/client/journal_client.ts";
import { type CliResult, runPact } from "./harness/cli_process.ts";
import { JournalProcess } from "./harness/journal_process.ts";
import { OpaServer } from "./harness/opa_server.ts";
import { BIN } from "./harness/paths.ts";

type Env = Record<string, string>;

interface Site {
  readonly journal: JournalProcess;
  /** Environment for `pact` as `role` (principal `<who>@example.org`). */
  as(role: string, who?: string, type?: PrincipalType): Promise<Env>;
  /** A gRPC client with `role`'s token. */
  client(role: string, who?: string, type?: PrincipalType): Promise<JournalClient>;
}

/**
 * A journal with nodes n1 (vCluster ml), r1 (vCluster sc, two-person
 * approval with a `timeout`-second expiry) and u1 (unassigned).
 */
async function withSite(
  options: { env?: Env; approvalTimeoutSeconds?: number },
  body: (site: Site) => Promise<void>,
): Promise<void> {
  const journal = await JournalProcess.start({
    env: { PACT_APPROVAL_CHECK_INTERVAL_MS: "200", ...options.env },
  });
  const clients: JournalClient[] = [];
  const site: Site = {
    journal,
    as: async (role, who = role, type = "human") => ({
      PACT_ENDPOINT: journal.endpoint,
      PACT_TOKEN: await journal.token(role, `${who}@example.org`, type),
    }),
    client: async (role, who = role, type = "human") => {
      const client = new JournalClient({
        endpoint: journal.endpoint,
        token: await journal.token(role, `${who}@example.org`, type),
        timeoutSeconds: 10,
      });
      clients.push(client);
      return client;
    },
  };
  try {
    const admin = await site.client("pact-platform-admin", "root");
    for (const [node, vcluster] of [["n1", "ml"], ["r1", "sc"]] as const) {
      await admin.appendEntry({
        entry: entry(EntryType.NODE_ASSIGNED, { kind: "node", id: node }, {
          payload: {
            $case: "enrollment",
            value: EnrollmentRecord.fromPartial({ nodeId: node, vclusterId: vcluster }),
          },
        }),
      });
    }
    const policy = await runPact([
      "group",
      "set-policy",
      "sc",
      "--set",
      "two_person_approval=true",
      "--set",
      `approval_timeout_seconds=${options.approvalTimeoutSeconds ?? 1800}`,
      "-m",
      "regulated",
    ], await site.as("pact-platform-admin", "root"));
    assert.equal(policy.code, 0, policy.stderr);
    await body(site);
  } finally {
    for (const client of clients) client.close();
    await journal.dispose();
  }
}

const commitOn = (node: string, message = "change") => [
  "commit",
  "-m",
  message,
  "--node",
  node,
  "--no-wait",
];

function assertExit(result: CliResult, code: number, what: string, stderr?: RegExp): void {
  assert.equal(result.code, code, `${what}: exit ${result.code}, stderr ${result.stderr}`);
  if (stderr) assert.match(result.stderr, stderr, what);
  if (code !== 0) assert.equal(result.stderr.trim().split("\n").length, 1, `${what}: one line`);
}

async function metric(journal: JournalProcess, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${journal.httpUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

Deno.test("authorization matrix: every role on its own and another vCluster, with exit codes", async () => {
  await withSite({}, async (site) => {
    // [role, principal type, commit on own-vCluster node n1, commit on r1/u1, set-policy ml, status]
    const matrix: [string, PrincipalType, number, number, number, number][] = [
      ["pact-platform-admin", "human", 0, 0, 0, 0],
      ["pact-ops-ml", "human", 0, 2, 2, 0],
      ["pact-viewer-ml", "human", 2, 2, 2, 0],
      ["pact-regulated-ml", "human", 0, 2, 2, 0],
      ["pact-service-agent", "agent", 2, 2, 2, 0],
      ["pact-service-ai", "service", 2, 2, 2, 0],
      ["site-wizard", "human", 2, 2, 2, 2],
    ];
    for (const [role, type, own, other, setPolicy, status] of matrix) {
      const env = await site.as(role, role, type);
      assertExit(await runPact(commitOn("n1"), env), own, `${role} commit own`);
      // The platform admin's commit on r1 waits for approval (exit 0, pending).
      assertExit(await runPact(commitOn("u1"), env), other, `${role} commit unassigned`);
      if (role !== "pact-platform-admin") {
        assertExit(await runPact(commitOn("r1"), env), other, `${role} commit other`);
      }
      assertExit(
        await runPact(["group", "set-policy", "ml", "--set", "ai_exec_allowed=true"], env),
        setPolicy,
        `${role} set-policy`,
        setPolicy === 2 ? /^pact: Permission denied/ : undefined,
      );
      assertExit(await runPact(["status"], env), status, `${role} status`);
    }
    // Approving needs a human of the vCluster: viewers and the AI role may not.
    const pending = await runPact(commitOn("r1"), await site.as("pact-ops-sc", "alice"));
    assertExit(pending, 0, "ops commit on regulated vCluster");
    const id = /Pending approval: (ap-[0-9a-f]+)/.exec(pending.stdout)![1]!;
    for (const [role, type] of [["pact-viewer-sc", "human"], ["pact-service-ai", "service"]]) {
      assertExit(
        await runPact(["approve", id], await site.as(role!, "x", type as PrincipalType)),
        2,
        `${role} approve`,
      );
    }
    assertExit(
      await runPact(["approve", id], await site.as("pact-ops-ml", "carol")),
      2,
      "ops of another vCluster approve",
      /may only write inside vCluster ml/,
    );
  });
});

Deno.test("emergency: never the AI role or an agent; wildcard bindings do not grant it", async () => {
  await withSite({}, async (site) => {
    const emergency = (node: string) => ({
      entry: entry(EntryType.EMERGENCY_START, { kind: "node", id: node }, {
        emergencyReason: "GPU hang",
      }),
    });
    const binding = await runPact([
      "group",
      "set-policy",
      "ml",
      "--set",
      'role_bindings=[{role = "site-operator", allowed_actions = ["*"]}]',
    ], await site.as("pact-platform-admin", "root"));
    assertExit(binding, 0, "wildcard binding");
    const operator = await site.as("site-operator", "op");
    assertExit(await runPact(commitOn("n1"), operator), 0, "wildcard grants commit");
    for (
      const [role, type, message] of [
        ["pact-service-ai", "service", /AI service role may never start or end emergency/],
        ["pact-service-agent", "agent", /needs a human principal/],
        ["site-operator", "human", /unknown role/],
        ["pact-regulated-ml", "human", /may not use emergency mode/],
      ] as const
    ) {
      const client = await site.client(role, "x", type);
      await assert.rejects(client.appendEntry(emergency("n1")), (err: Error) => {
        assert.match(err.message, message, role);
        return (err as { code?: string }).code === "PERMISSION_DENIED";
      });
      const verdict = await client.evaluate({
        scope: { kind: { $case: "nodeId", value: "n1" } },
        action: "emergency_start",
        proposedChange: undefined,
        command: "",
      });
      assert.equal(verdict.authorized, false, `${role} Evaluate`);
    }
    const ops = await site.client("pact-ops-ml", "alice");
    const started = await ops.appendEntry(emergency("n1"));
    assert.ok(started.sequence > 0);
    assert.equal((await ops.getNodeState("n1")).emergency?.reason, "GPU hang");
  });
});

Deno.test("OPA: allow and deny with reasons, site roles, degraded mode in status and metrics", async () => {
  const opa = OpaServer.start();
  try {
    await withSite({ env: { PACT_OPA_ENDPOINT: opa.endpoint } }, async (site) => {
      const ops = await site.as("pact-ops-ml", "alice");
      const siteRole = await site.as("site-ml", "sam");
      const admin = await site.as("pact-platform-admin", "root");
      assertExit(await runPact(commitOn("n1"), ops), 0, "OPA allows ops");
      assert.ok(opa.inputs.some((i) => i.action === "commit" && i.scope.vcluster === "ml"));

      opa.data.freeze = { ml: "quarterly audit" };
      assertExit(
        await runPact(commitOn("n1"), ops),
        3,
        "OPA denies during a freeze",
        /^pact: Policy rejected commit: OPA denied commit: vCluster ml is in a change freeze: quarterly audit$/m,
      );
      opa.data.freeze = {};
      opa.data.roles = { "site-ml": [{ vcluster: "ml", actions: ["commit"] }] };
      assertExit(await runPact(commitOn("n1"), siteRole), 0, "site role granted by OPA");

      await opa.stop();
      assertExit(await runPact(commitOn("n1"), ops), 0, "degraded: cached RBAC allows ops");
      assertExit(
        await runPact(commitOn("n1"), siteRole),
        3,
        "degraded: OPA-only role denied",
        /can only be authorized by OPA, which is unreachable \(degraded mode\)/,
      );
      assertExit(
        await runPact(commitOn("r1"), admin),
        3,
        "degraded: two-person approval denied",
        /two-person approval is unavailable while OPA is unreachable/,
      );
      assertExit(
        await runPact(commitOn("n1"), await site.as("pact-viewer-ml")),
        2,
        "degraded: never allow all",
      );
      const status = await runPact(["status"], admin);
      assert.match(status.stdout, /^Policy: +rbac\+opa, DEGRADED since .*OPA unreachable/m);
      const json = JSON.parse((await runPact(["status", "--json"], admin)).stdout);
      assert.equal(json.journal.policy.degraded, true);
      assert.equal(await metric(site.journal, "pact_policy_degraded"), 1);
      assert.ok(
        (await metric(site.journal, 'pact_policy_opa_errors_total{reason="unreachable"}'))!,
      );
      assert.ok(
        (await metric(site.journal, 'pact_policy_degraded_decisions_total{outcome="deny"}'))! >= 2,
      );

      opa.restart();
      assertExit(await runPact(commitOn("n1"), siteRole), 0, "OPA back: site role again");
      assert.match((await runPact(["status"], admin)).stdout, /^Policy: +rbac\+opa \(/m);
      assert.equal(await metric(site.journal, "pact_policy_degraded"), 0);

      opa.delayMs = 1_500;
      const started = performance.now();
      assertExit(await runPact(commitOn("n1"), ops), 0, "slow OPA: degraded after 1 s");
      assert.ok(performance.now() - started >= 1_000);
      assert.ok((await metric(site.journal, 'pact_policy_opa_errors_total{reason="timeout"}'))!);
      opa.delayMs = 0;
    });
  } finally {
    await opa.stop();
  }
});

Deno.test("two-person approval end to end: pending, self-approval refused, approved once", async () => {
  await withSite({}, async (site) => {
    const alice = await site.as("pact-ops-sc", "alice");
    const bob = await site.as("pact-regulated-sc", "bob");
    const requester = spawnPact(["commit", "-m", "add hugepages", "--node", "r1"], alice);
    const id = await requester.waitFor(/Pending approval: (ap-[0-9a-f]{8}) \(expires in 30 min\)/);
    assert.match(requester.stdout, /Approval required \(two-person policy on vcluster: sc\)/);
    assert.match(requester.stdout, /Waiting for approval\.\.\. \(Ctrl-C to background\)/);

    const list = await runPact(["approve", "list"], bob);
    assertExit(list, 0, "approve list");
    assert.match(list.stdout, new RegExp(`${id} +pending +sc +commit node:r1 +alice@example.org`));
    assert.match(list.stdout, /"add hugepages"/);
    assertExit(
      await runPact(["approve", id], alice),
      3,
      "self-approval",
      /alice@example.org cannot approve their own request/,
    );
    const approved = await runPact(["approve", id], bob);
    assertExit(approved, 0, "bob approves");
    assert.match(approved.stdout, new RegExp(`^Approved ${id}\\. commit applied on node:r1`));
    const { code, stdout } = await requester.done();
    assert.equal(code, 0, stdout);
    assert.match(stdout, /Approved by bob@example.org\. Committed \(seq:\d+\) on node: r1/);

    assertExit(await runPact(["approve", id], bob), 1, "twice", /already approved/);
    const log = JSON.parse((await runPact(["log", "--json", "-n", "50"], bob)).stdout);
    const commits = log.filter((e: { type: string }) => e.type === "COMMIT");
    assert.equal(commits.length, 1, "the approved commit ran exactly once");
    assert.equal(commits[0].author.principal, "alice@example.org");
    assert.equal(commits[0].metadata.approval_id, id);
    assert.equal(commits[0].policy_ref, `approval:${id}`);
    const status = JSON.parse((await runPact(["approve", "list", "--all", "--json"], bob)).stdout);
    assert.equal(status[0].status, "approved");
    assert.equal(status[0].approver, "bob@example.org");
    assert.equal(status[0].executed_sequence, commits[0].sequence);
  });
});

Deno.test("two-person approval: deny with a reason, Ctrl-C backgrounds, expiry, bad input", async () => {
  await withSite({}, async (site) => {
    const alice = await site.as("pact-ops-sc", "alice");
    const bob = await site.as("pact-ops-sc", "bob");

    const denied = spawnPact(commitOn("r1", "risky").filter((a) => a !== "--no-wait"), alice);
    const id = await denied.waitFor(/Pending approval: (ap-[0-9a-f]{8})/);
    const noReason = await runPact(["approve", "deny", id], bob);
    assert.equal(noReason.code, 1, "deny without -m");
    assert.match(noReason.stderr, /required option '-m, --message <reason>' not specified/);
    assertExit(await runPact(["approve", "deny", id, "-m", "not now"], bob), 0, "deny");
    const result = await denied.done();
    assert.equal(result.code, 3, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(`^pact: Approval ${id} denied by bob@example.org: not now$`, "m"),
    );

    const background = spawnPact(commitOn("r1", "later").filter((a) => a !== "--no-wait"), alice);
    const kept = await background.waitFor(/Pending approval: (ap-[0-9a-f]{8})/);
    background.interrupt();
    const left = await background.done();
    assert.equal(left.code, 0, left.stderr);
    assert.match(left.stdout, new RegExp(`Left in the background: ${kept} stays pending`));
    assert.match(left.stdout, /pact approve list --all/);

    // Nobody decides: with a 2 s timeout the journal's timer expires it.
    const shorter = await runPact(
      ["group", "set-policy", "sc", "--set", "approval_timeout_seconds=2"],
      await site.as("pact-platform-admin", "root"),
    );
    assertExit(shorter, 0, "short timeout");
    const expiring = spawnPact(commitOn("r1", "too late").filter((a) => a !== "--no-wait"), alice);
    const late = await expiring.waitFor(/Pending approval: (ap-[0-9a-f]{8})/);
    const expired = await expiring.done();
    assert.equal(expired.code, 3, expired.stderr);
    assert.match(
      expired.stderr,
      new RegExp(`Approval ${late} expired at .*submit the change again`),
    );
    assertExit(await runPact(["approve", late], bob), 1, "approve expired", /already expired/);
    const all = JSON.parse((await runPact(["approve", "list", "--all", "--json"], bob)).stdout);
    const byId = new Map(all.map((a: { approval_id: string }) => [a.approval_id, a]));
    assert.equal((byId.get(id) as { status: string }).status, "rejected");
    assert.equal((byId.get(kept) as { status: string }).status, "pending", "backgrounded");
    assert.equal((byId.get(late) as { status: string }).status, "expired");
    const log = JSON.parse((await runPact(["log", "--json", "-n", "100"], bob)).stdout);
    assert.equal(log.filter((e: { type: string }) => e.type === "COMMIT").length, 0);
    const expiries = log.filter((e: { type: string; author: { principal: string } }) =>
      e.type === "APPROVAL_DECISION" && e.author.principal.startsWith("pact-journal/")
    );
    assert.equal(expiries.length, 1, "one Expired entry");

    assertExit(await runPact(["approve", "ap-nope"], bob), 1, "unknown id", /not found/);
    assertExit(await runPact(["approve", "bad id!"], bob), 1, "bad id", /Invalid approval id/);
  });
});

Deno.test("pact group list/show/set-policy; a policy update reaches the vCluster's agents", async () => {
  await withSite({}, async (site) => {
    const admin = await site.as("pact-platform-admin", "root");
    const agent = await site.client("pact-service-agent", "agent-n1", "agent");
    const controller = new AbortController();
    const updates = agent.subscribe({ nodeId: "n1", fromHead: true }, controller.signal);
    const first = (async () => {
      for await (const update of updates) {
        if (update.kind === UpdateKind.POLICY) return update;
      }
      return undefined;
    })();
    await new Promise((r) => setTimeout(r, 300));

    const set = await runPact([
      "group",
      "set-policy",
      "ml",
      "--set",
      "enforcement_mode=enforce",
      "--set",
      'exec_whitelist=["nvidia-smi"]',
      "-m",
      "enforce on ml",
    ], admin);
    assertExit(set, 0, "set-policy");
    assert.match(set.stdout, /enforcement_mode: "observe" -> "enforce"/);
    const update = await first;
    controller.abort();
    const policy = update?.entry?.payload;
    assert.equal(policy?.$case, "policy");
    assert.equal(policy?.$case === "policy" && policy.value.enforcementMode, "enforce");

    const list = await runPact(["group", "list"], admin);
    assert.match(list.stdout, /^ml +1 +seq-\d+ +enforce +no +no +allowed$/m);
    assert.match(list.stdout, /^sc +1 +seq-\d+ +observe +no +yes \(1800 s\) +allowed$/m);
    const show = JSON.parse((await runPact(["group", "show", "ml", "--json"], admin)).stdout);
    assert.deepEqual(show.nodes, ["n1"]);
    assert.deepEqual(show.policy.exec_whitelist, ["nvidia-smi"]);
    assert.equal(show.policy.approval_timeout_seconds, 1800);

    assertExit(
      await runPact(["group", "set-policy", "ml", "--set", "two_person_approval=maybe"], admin),
      1,
      "bad value",
      /two_person_approval must be true or false/,
    );
    assertExit(
      await runPact(["group", "set-policy", "ml", "--set", "colour=blue"], admin),
      1,
      "unknown key",
      /unknown key "colour"/,
    );
    assertExit(
      await runPact(["group", "set-policy", "ml"], admin),
      1,
      "nothing",
      /Nothing to change/,
    );
    const dry = await runPact(
      ["group", "set-policy", "ml", "--unset", "enforcement_mode", "--dry-run"],
      admin,
    );
    assertExit(dry, 0, "dry run");
    assert.match(dry.stdout, /dry run, nothing written/);
    assert.equal(
      JSON.parse((await runPact(["group", "show", "ml", "--json"], admin)).stdout).policy
        .enforcement_mode,
      "enforce",
    );
  });
});

/** `pact` running in the background, its stdout read as it comes. */
function spawnPact(args: string[], env: Env) {
  const child = new Deno.Command(`${BIN}/pact`, {
    args,
    env: { HOME: "/nonexistent", PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stdout = "";
  let stderr = "";
  const reading = Promise.all([
    (async () => {
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) stdout += chunk;
    })(),
    (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) stderr += chunk;
    })(),
  ]);
  return {
    get stdout() {
      return stdout;
    },
    /** Waits (at most 20 s) until stdout matches `pattern`; returns its first group. */
    async waitFor(pattern: RegExp): Promise<string> {
      for (let i = 0; i < 200; i++) {
        const match = pattern.exec(stdout);
        if (match) return match[1] ?? match[0];
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`pact never printed ${pattern}: ${stdout}\n${stderr}`);
    },
    interrupt() {
      child.kill("SIGINT");
    },
    async done(): Promise<CliResult> {
      const status = await child.status;
      await reading;
      return { code: status.code, stdout, stderr };
    },
  };
}
