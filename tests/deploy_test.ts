/**
 * The files under deploy/ that operators copy: the example configs load
 * with the real config loaders (an unknown or mistyped key would be refused
 * at start), and the systemd units pass `systemd-analyze verify`.
 */
import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { parseAgentConfig } from "../agent/config.ts";
import { resolveJournalConfig } from "../journal/config.ts";

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

Deno.test("the deployment guide's agent.toml loads unchanged", () => {
  // The example of the deployment guide ("Create /etc/pact/agent.toml").
  const guide = `[agent]
enforcement_mode = "enforce"

[agent.supervisor]
backend = "pact"

[agent.journal]
endpoints = ["journal-1.mgmt:9443", "journal-2.mgmt:9443", "journal-3.mgmt:9443"]
tls_enabled = true
tls_cert = "/etc/pact/agent.crt"
tls_key = "/etc/pact/agent.key"
tls_ca = "/etc/pact/ca.crt"

[agent.observer]
ebpf_enabled = true
inotify_enabled = true
netlink_enabled = true

[agent.shell]
enabled = true
listen = "0.0.0.0:9445"
whitelist_mode = "strict"

[agent.commit_window]
base_window_seconds = 900
drift_sensitivity = 2.0
emergency_window_seconds = 14400

[agent.blacklist]
patterns = ["/tmp/**", "/var/log/**", "/proc/**", "/sys/**", "/dev/**",
            "/run/user/**", "/run/pact/**", "/run/lattice/**"]
`;
  const config = parseAgentConfig(guide, "agent.toml", { nodeId: "n1" }, noEnv);
  assert.equal(config.supervisorBackend, "pact");
  assert.equal(config.shell.whitelistMode, "strict");
});

Deno.test("deploy/config/journal.toml loads", async () => {
  const config = await resolveJournalConfig({ config: `${DEPLOY}config/journal.toml` }, noEnv);
  assert.equal(config.listen.port, 9443);
});

const analyze = (() => {
  try {
    return new Deno.Command("systemd-analyze", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
})();
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
