import assert from "node:assert/strict";
import { sha256Hex } from "../../shared/hash.ts";
import { DeclaredState } from "../../shared/proto/gen/pact/config/config.ts";
import { sandboxHost, writeSandbox } from "../host/sandbox_host.ts";
import { declaredTargets, diffDeclared } from "./declared.ts";

const DECLARED = DeclaredState.fromPartial({
  sysctl: { "vm.swappiness": "10", "vm.nr_hugepages": "1024", "kernel.absent": "1" },
  modules: ["nvidia", "lustre"],
  mounts: [
    {
      path: "/scratch",
      spec: { fsType: "nfs", source: "storage03:/scratch", options: "", readOnly: false },
    },
    {
      path: "/data",
      spec: { fsType: "lustre", source: "mds:/data", options: "", readOnly: false },
    },
  ],
  files: [
    { path: "/etc/same.conf", content: new TextEncoder().encode("same\n") },
    { path: "/etc/hashed.conf", contentHash: `sha256:${sha256Hex("declared\n")}` },
    { path: "/etc/missing.conf", content: new TextEncoder().encode("x\n") },
  ],
});

Deno.test("declaredTargets() names the declared files and sysctl keys", () => {
  assert.deepEqual(declaredTargets(DECLARED), {
    files: ["/etc/same.conf", "/etc/hashed.conf", "/etc/missing.conf"],
    sysctlKeys: ["kernel.absent", "vm.nr_hugepages", "vm.swappiness"],
  });
});

Deno.test("diffDeclared() reports each key where the node differs from its declared state", async () => {
  const root = await Deno.makeTempDir({ prefix: "pact-declared-" });
  try {
    await writeSandbox(root, {
      files: { "/etc/same.conf": "same\n", "/etc/hashed.conf": "local edit\n" },
      sysctl: { "vm.swappiness": "60", "vm.nr_hugepages": "1024" },
      modules: ["nvidia"],
      mounts: [
        {
          mountPoint: "/scratch",
          fsType: "nfs",
          source: "storage04:/scratch",
          options: "rw",
          readOnly: false,
        },
      ],
    });
    const events = await diffDeclared(sandboxHost(root), DECLARED, 42);
    assert.deepEqual(events.map((e) => [e.category, e.key, e.detail.split(" (")[0]]), [
      ["file", "/etc/hashed.conf", "modified"],
      ["file", "/etc/missing.conf", "deleted"],
      ["kernel", "kernel.absent", "removed"],
      ["kernel", "vm.swappiness", '"10" -> "60"'],
      ["kernel", "module:lustre", "removed"],
      ["mount", "/scratch", '"nfs:storage03:/scratch" -> "nfs:storage04:/scratch"'],
      ["mount", "/data", "removed"],
    ]);
    assert.ok(events.every((e) => e.atMs === 42 && e.source === "probe"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
