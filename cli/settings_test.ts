import assert from "node:assert/strict";
import { isPactError } from "../shared/errors/mod.ts";
import { resolveSettings, type SettingsSources } from "./settings.ts";

function sources(env: Record<string, string>, files: Record<string, string> = {}): SettingsSources {
  return {
    env: (name) => env[name],
    readTextFile: (path) => {
      const text = files[path];
      return text === undefined
        ? Promise.reject(new Deno.errors.NotFound(path))
        : Promise.resolve(text);
    },
  };
}

const HOME = { HOME: "/home/op" };
const CLI_TOML = "/home/op/.config/pact/cli.toml";

Deno.test("resolveSettings() falls back to the documented defaults", async () => {
  const settings = await resolveSettings({}, sources(HOME));
  assert.equal(settings.endpoint, "http://localhost:9443");
  assert.equal(settings.token, undefined);
  assert.equal(settings.output, "text");
  assert.equal(settings.timeoutSeconds, 30);
  assert.equal(settings.configPath, CLI_TOML);
});

Deno.test("resolveSettings() ranks flags over environment over cli.toml", async () => {
  const files = {
    [CLI_TOML]:
      'endpoint = "http://file:9443"\ntoken = "file-token"\ndefault_vcluster = "file-vc"\n' +
      'output_format = "json"\ntimeout_seconds = 7\n',
  };
  const fromFile = await resolveSettings({}, sources(HOME, files));
  assert.deepEqual(
    [
      fromFile.endpoint,
      fromFile.token,
      fromFile.vcluster,
      fromFile.output,
      fromFile.timeoutSeconds,
    ],
    ["http://file:9443", "file-token", "file-vc", "json", 7],
  );
  const env = {
    ...HOME,
    PACT_ENDPOINT: "http://env:9443",
    PACT_TOKEN: "env-token",
    PACT_VCLUSTER: "env-vc",
    PACT_OUTPUT: "text",
  };
  const fromEnv = await resolveSettings({}, sources(env, files));
  assert.deepEqual(
    [fromEnv.endpoint, fromEnv.token, fromEnv.vcluster, fromEnv.output],
    ["http://env:9443", "env-token", "env-vc", "text"],
  );
  const fromFlags = await resolveSettings(
    {
      endpoint: "http://flag:9443",
      token: "flag-token",
      vcluster: "flag-vc",
      json: true,
      timeout: "3",
    },
    sources(env, files),
  );
  assert.deepEqual(
    [
      fromFlags.endpoint,
      fromFlags.token,
      fromFlags.vcluster,
      fromFlags.output,
      fromFlags.timeoutSeconds,
    ],
    ["http://flag:9443", "flag-token", "flag-vc", "json", 3],
  );
});

Deno.test("resolveSettings() reads the token file when no other source has a token", async () => {
  const files = { "/home/op/.config/pact/token": "  file-token\n" };
  assert.equal((await resolveSettings({}, sources(HOME, files))).token, "file-token");
  const custom = {
    [CLI_TOML]: 'token_path = "/run/secrets/pact"',
    "/run/secrets/pact": "secret-token",
  };
  assert.equal((await resolveSettings({}, sources(HOME, custom))).token, "secret-token");
});

Deno.test("resolveSettings() honours XDG_CONFIG_HOME", async () => {
  const settings = await resolveSettings(
    {},
    sources({ HOME: "/home/op", XDG_CONFIG_HOME: "/cfg" }),
  );
  assert.equal(settings.configPath, "/cfg/pact/cli.toml");
});

Deno.test("resolveSettings() refuses malformed cli.toml, bad output formats and bad timeouts", async () => {
  const cases: [Record<string, string>, object, string][] = [
    [{ [CLI_TOML]: "endpoint = " }, {}, "CONFIG"],
    [{ [CLI_TOML]: 'timeout_seconds = "soon"' }, {}, "CONFIG"],
    [{}, { output: "yaml" }, "INVALID_ARGUMENT"],
    [{}, { timeout: "0" }, "INVALID_ARGUMENT"],
    [{}, { timeout: "abc" }, "INVALID_ARGUMENT"],
  ];
  for (const [files, flags, code] of cases) {
    await assert.rejects(
      resolveSettings(flags, sources(HOME, files)),
      (err: unknown) => isPactError(err) && err.code === code,
      JSON.stringify({ files, flags }),
    );
  }
});
