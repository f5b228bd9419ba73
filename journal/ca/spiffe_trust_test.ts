import assert from "node:assert/strict";
import { x509 } from "../../shared/crypto/x509.ts";
import { FakeSpireAgent } from "../../tests/harness/spire_agent.ts";
import { spiffeNodeId, SpiffeTrust } from "./spiffe_trust.ts";

Deno.test("SpiffeTrust.nodeOf() accepts an SVID of its bundle naming a pact node, refuses others", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pact-spiffe-trust-" });
  const ours = await FakeSpireAgent.start(`${dir}/a.sock`, "example.org");
  const theirs = await FakeSpireAgent.start(`${dir}/b.sock`, "example.org");
  try {
    const trust = new SpiffeTrust("example.org", ours.bundlePem);
    const cert = async (agent: FakeSpireAgent, id: string) =>
      new x509.X509Certificate((await agent.issue(id)).certPem);

    const good = await cert(ours, spiffeNodeId("example.org", "n1"));
    assert.equal(trust.claims(good), true);
    assert.deepEqual(await trust.nodeOf(good), { node: "n1" });

    const foreign = await trust.nodeOf(await cert(theirs, spiffeNodeId("example.org", "n1")));
    assert.match(
      "refusal" in foreign ? foreign.refusal : "",
      /not signed by the SPIFFE trust bundle/,
    );

    const workload = await trust.nodeOf(await cert(ours, "spiffe://example.org/web/n1"));
    assert.match("refusal" in workload ? workload.refusal : "", /names no pact node/);

    const otherDomain = await cert(ours, spiffeNodeId("other.org", "n1"));
    assert.equal(trust.claims(otherDomain), false);
  } finally {
    await ours.stop();
    await theirs.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SpiffeTrust refuses a bundle without a certificate", () => {
  assert.throws(() => new SpiffeTrust("example.org", "nothing"), /holds no PEM certificate/);
});
