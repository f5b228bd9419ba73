import assert from "node:assert/strict";
import {
  DeclaredState,
  DeltaAction,
  StateDelta,
} from "../../shared/proto/gen/pact/config/config.ts";
import { commit } from "../../shared/testing/entries.ts";
import { sandboxHost, writeSandbox } from "../host/sandbox_host.ts";
import { applyDeclared, describeApply, effectiveState } from "./apply_config.ts";
import type { BootConfig } from "./boot_config.ts";
import { sandboxAppliers } from "./node_appliers.ts";

function config(overlay: DeclaredState, delta: StateDelta): BootConfig {
  return {
    messages: [],
    complete: {
      baseVersion: 3,
      nodeVersion: 7,
      timestamp: undefined,
      policy: undefined,
      configVersion: 7,
      vclusterId: "ml",
      unchanged: false,
    },
    overlay,
    nodeDelta: [
      commit("n1", "local", { sequence: 7, payload: { $case: "stateDelta", value: delta } }),
    ],
  };
}

Deno.test("effectiveState() puts the node delta over the overlay", () => {
  const declared = effectiveState(config(
    DeclaredState.fromPartial({ sysctl: { "vm.swappiness": "10", "kernel.pid_max": "65536" } }),
    StateDelta.fromPartial({
      kernel: [
        { key: "vm.swappiness", action: DeltaAction.MODIFY, declaredValue: "1" },
        { key: "kernel.pid_max", action: DeltaAction.REMOVE },
      ],
    }),
  ));
  assert.deepEqual(declared.sysctl, { "vm.swappiness": "1" });
});

Deno.test("applyDeclared() applies every dimension in a sandbox, then finds nothing to change", async () => {
  const root = await Deno.makeTempDir({ prefix: "pact-boot-apply-" });
  try {
    await writeSandbox(root, {
      sysctl: { "vm.swappiness": "60" },
      modules: ["ext4"],
      links: [{ name: "eth0", mtu: 1500, up: true, mac: "02:00:00:00:00:01", addresses: [] }],
    });
    const host = sandboxHost(root);
    const declared = DeclaredState.fromPartial({
      sysctl: { "vm.swappiness": "10" },
      modules: ["ext4", "lustre"],
      mounts: [{
        path: "/scratch",
        spec: { fsType: "nfs", source: "fs:/scratch", options: "", readOnly: false },
      }],
      files: [
        { path: "/etc/motd", content: new TextEncoder().encode("hi\n"), mode: "0640" },
        { path: "/etc/image-only.conf", contentHash: "ab".repeat(32) },
      ],
      network: [{ interface: "eth0", address: "10.0.0.5/24", gateway: "", mtu: 9000 }],
    });
    const appliers = sandboxAppliers(root, host);
    const first = await applyDeclared(declared, host, appliers);
    assert.deepEqual(first.changed, { sysctl: 1, modules: 1, mounts: 1, files: 1, network: 1 });
    assert.deepEqual(first.hashOnlyFiles, ["/etc/image-only.conf"]);
    assert.equal(await host.sysctl.get("vm.swappiness"), "10");
    assert.deepEqual((await host.modules.list()).map((m) => m.name), ["ext4", "lustre"]);
    assert.equal((await host.mounts.list())[0]?.source, "fs:/scratch");
    assert.equal((await host.files.stat("/etc/motd"))?.mode, "0640");
    const eth0 = (await host.network.links())[0]!;
    assert.deepEqual([eth0.mtu, eth0.addresses], [9000, ["10.0.0.5/24"]]);

    const second = await applyDeclared(declared, host, appliers);
    assert.equal(
      describeApply(second),
      "nothing changed; 6 already as declared; 1 file(s) declared by hash only, left as found",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("applyDeclared() tries every item and reports the failures in one line", async () => {
  const root = await Deno.makeTempDir({ prefix: "pact-boot-apply-" });
  try {
    const host = sandboxHost(root);
    const declared = DeclaredState.fromPartial({
      sysctl: { "no.such.key": "1" },
      files: [{
        path: "/etc/a",
        content: new TextEncoder().encode("x"),
        contentHash: "00".repeat(32),
      }],
    });
    await assert.rejects(
      applyDeclared(declared, host, sandboxAppliers(root, host)),
      /^BootError: Cannot apply the boot config: sysctl no.such.key: Cannot set sysctl no.such.key: no such key \(and 1 more\)$/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
