/**
 * The files under deploy/ that operators copy: the example configs load
 * with the real config loaders (an unknown or mistyped key would be refused
 * at start), and the systemd units pass `systemd-analyze verify`.
 */
import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { parseAgentConfig } from "../agent/config.ts";
import { resolveJournalConfig } from "../journal/config.ts";
import { commandSucceeds } from "../shared/testing/commands.ts";

const DEPLOY = fromFileUrl(new URL("../deploy/", import.meta.url));
const noEnv = () => undefined;

Deno.test("deploy/config/agent.toml loads with every table the agent reads", async () => {
  const text = await Deno.readTextFile(`${DEPLOY}config/agent.toml`);
  const config = parseAgentConfig(text, "agent.toml", { nodeId: "n1" }, noEnv);
  assert.equal(config.nodeId, "n1");
  assert.equal(config.enforcementMode, "enforce");
  assert.equal(config.shell.listen.port, 9445);
  assert.equal(config.journal.endpoints.length, 3);
  // A typo is refused with its line, so the example above was really checked.
  assert.throws(
    () =>
      parseAgentConfig(text.replace("drift_sensitivity", "drift_sensitivty"), "agent.toml", {
        nodeId: "n1",
      }, noEnv),
    /agent\.toml: line \d+: unknown key "drift_sensitivty" in \[agent\.commit_window\]/,
  );
});

Deno.test("deploy/config/journal.toml loads", async () => {
  const config = await resolveJournalConfig({ config: `${DEPLOY}config/journal.toml` }, noEnv);
  assert.equal(config.listen.port, 9443);
});

const analyze = commandSucceeds("systemd-analyze", ["--version"]);
if (!analyze) {
  console.warn("deploy_test: unit verification skipped: systemd-analyze is not installed");
}

Deno.test({
  name: "deploy/systemd units pass systemd-analyze verify",
  ignore: !analyze,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pact-deploy-units-" });
    try {
      // The units name /opt/pact/bin/...; verify checks that ExecStart exists,
      // so they are verified against stand-in executables in a scratch dir.
      await Deno.mkdir(`${dir}/bin`);
      const files: string[] = [];
      for (const unit of ["pact-journal.service", "pact-agent.service"]) {
        const text = await Deno.readTextFile(`${DEPLOY}systemd/${unit}`);
        assert.match(text, /ExecStart=\/opt\/pact\/bin\//);
        await Deno.writeTextFile(
          `${dir}/${unit}`,
          text.replaceAll("/opt/pact/bin/", `${dir}/bin/`),
        );
        files.push(`${dir}/${unit}`);
      }
      for (const bin of ["pact-journal", "pact-agent"]) {
        await Deno.writeTextFile(`${dir}/bin/${bin}`, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
      }
      const out = await new Deno.Command("systemd-analyze", { args: ["verify", ...files] })
        .output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, stderr);
      // Only warnings about the host's own units may appear, none about ours.
      assert.doesNotMatch(stderr, /pact-(journal|agent)\.service/, stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
