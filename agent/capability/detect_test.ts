import assert from "node:assert/strict";
import { aarch64Tree, fakeTool, linkTree, writeTree, x86Tree } from "./_fixtures.ts";
import { detectCpu, expandCpuList } from "./cpu.ts";
import { detectMemory, parseMemoryType } from "./memory.ts";
import { detectNetwork } from "./network.ts";
import { rootedSources } from "./sources.ts";
import { detectStorage } from "./storage.ts";

async function withRoot(body: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "pact-cap-" });
  try {
    await body(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const sourcesAt = (root: string, extra: Partial<Parameters<typeof rootedSources>[0]> = {}) =>
  rootedSources({
    root,
    tools: {
      "nvidia-smi": `${root}/usr/bin/nvidia-smi`,
      "rocm-smi": `${root}/usr/bin/rocm-smi`,
      "dmidecode": `${root}/usr/bin/dmidecode`,
    },
    ...extra,
  });

Deno.test("expandCpuList() expands ranges and single ids", () => {
  assert.deepEqual(expandCpuList("0-3,8,10-11\n"), [0, 1, 2, 3, 8, 10, 11]);
  assert.deepEqual(expandCpuList(""), []);
});

Deno.test("detectCpu() reads an x86 node: model, SMT cores, MHz, flags, NUMA, L3 per socket", async () => {
  await withRoot(async (root) => {
    await x86Tree(root);
    const cpu = await detectCpu(sourcesAt(root));
    assert.equal(cpu.architecture, "x86_64");
    assert.equal(cpu.model, "Intel(R) Xeon(R) Platinum 8480+ @ 2.00GHz");
    assert.equal(cpu.logical_cores, 8);
    assert.equal(cpu.physical_cores, 4);
    assert.equal(cpu.base_frequency_mhz, 2000);
    assert.equal(cpu.max_frequency_mhz, 3800);
    assert.ok(cpu.features.includes("avx512f") && cpu.features.includes("amx_tile"));
    assert.equal(cpu.numa_nodes, 2);
    // Two sockets' L3 (105 MiB each), counted once per socket, not once per CPU.
    assert.equal(cpu.cache_l3_bytes, 2 * 107520 * 1024);
  });
});

Deno.test("detectMemory() reads MemTotal exactly, NUMA nodes with CPU lists, both hugepage sizes, DDR5", async () => {
  await withRoot(async (root) => {
    await x86Tree(root);
    await fakeTool(
      root,
      "dmidecode",
      "Memory Device\n\tType: Unknown\n\nMemory Device\n\tType: DDR5\n",
    );
    const memory = await detectMemory(sourcesAt(root), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.equal(memory.total_bytes, 527988152 * 1024);
    assert.equal(memory.available_bytes, 510000000 * 1024);
    assert.equal(memory.memory_type, "ddr5");
    assert.equal(memory.numa_nodes, 2);
    assert.deepEqual(memory.numa_topology, [
      { id: 0, total_bytes: 263994076 * 1024, cpus: [0, 1, 4, 5] },
      { id: 1, total_bytes: 263994076 * 1024, cpus: [2, 3, 6, 7] },
    ]);
    assert.deepEqual(memory.hugepages, {
      size_2mb_total: 1024,
      size_2mb_free: 512,
      size_1gb_total: 4,
      size_1gb_free: 3,
    });
  });
});

Deno.test("detectCpu() and detectMemory() read an aarch64 node with SVE; no NUMA info is one node with everything", async () => {
  await withRoot(async (root) => {
    await aarch64Tree(root);
    const cpu = await detectCpu(sourcesAt(root));
    assert.equal(cpu.architecture, "aarch64");
    assert.equal(cpu.model, "ARM part 0xd4f");
    assert.equal(cpu.logical_cores, 4);
    assert.equal(cpu.physical_cores, 4);
    assert.ok(cpu.features.includes("sve") && cpu.features.includes("sve2"));
    assert.equal(cpu.numa_nodes, 1);
    const memory = await detectMemory(sourcesAt(root), [0, 1, 2, 3]);
    assert.equal(memory.memory_type, "unknown", "no dmidecode: unknown");
    assert.deepEqual(memory.numa_topology, [
      { id: 0, total_bytes: 874757120 * 1024, cpus: [0, 1, 2, 3] },
    ]);
  });
});

Deno.test("detectCpu() on an unreadable /proc reports unknown and 0 cores", async () => {
  await withRoot(async (root) => {
    const cpu = await detectCpu(sourcesAt(root));
    assert.equal(cpu.architecture, "unknown");
    assert.equal(cpu.logical_cores, 0);
    assert.equal(cpu.physical_cores, 0);
    assert.equal(cpu.numa_nodes, 0);
  });
});

Deno.test("parseMemoryType() knows HBM3e and ignores empty slots", () => {
  assert.equal(parseMemoryType("\tType: Unknown\n\tType: HBM3e\n"), "hbm3e");
  assert.equal(parseMemoryType("\tType: DDR4\n"), "ddr4");
  assert.equal(parseMemoryType(""), "unknown");
});

Deno.test("detectNetwork() lists physical NICs only: cxi is Slingshot, bad speed is 0, lo and veth are left out", async () => {
  await withRoot(async (root) => {
    const net = "/sys/class/net";
    await writeTree(root, {
      [`${net}/hsn0/speed`]: "200000\n",
      [`${net}/hsn0/operstate`]: "up\n",
      [`${net}/hsn0/address`]: "02:00:00:00:00:01\n",
      [`${net}/hsn0/type`]: "1\n",
      [`${net}/eth0/speed`]: "-1\n",
      [`${net}/eth0/operstate`]: "down\n",
      [`${net}/eth0/address`]: "aa:bb:cc:dd:ee:ff\n",
      [`${net}/eth0/type`]: "1\n",
      [`${net}/lo/operstate`]: "unknown\n",
      [`${net}/veth0/operstate`]: "up\n",
      "/sys/bus/pci/drivers/cxi_ss1/.keep": "",
      "/sys/bus/pci/drivers/ixgbe/.keep": "",
      "/sys/devices/pci0000:00/0000:01:00.0/.keep": "",
      "/sys/devices/pci0000:00/0000:02:00.0/.keep": "",
    });
    await linkTree(root, {
      [`${net}/hsn0/device`]: `${root}/sys/devices/pci0000:00/0000:01:00.0`,
      [`${net}/eth0/device`]: `${root}/sys/devices/pci0000:00/0000:02:00.0`,
      [`/sys/devices/pci0000:00/0000:01:00.0/driver`]: "../../../bus/pci/drivers/cxi_ss1",
      [`/sys/devices/pci0000:00/0000:02:00.0/driver`]: "../../../bus/pci/drivers/ixgbe",
    });
    const sources = sourcesAt(root, {
      ipv4: () => Promise.resolve(new Map([["hsn0", "10.100.0.42"]])),
    });
    const nics = await detectNetwork(sources);
    assert.deepEqual(nics, [
      {
        name: "eth0",
        fabric: "ethernet",
        speed_mbps: 0,
        state: "down",
        mac: "aa:bb:cc:dd:ee:ff",
        ipv4: null,
      },
      {
        name: "hsn0",
        fabric: "slingshot",
        speed_mbps: 200000,
        state: "up",
        mac: "02:00:00:00:00:01",
        ipv4: "10.100.0.42",
      },
    ]);
  });
});

Deno.test("detectStorage() lists disks and mounts; a hung NFS statvfs is cut off and listed as 0/0", async () => {
  await withRoot(async (root) => {
    await writeTree(root, {
      "/sys/block/nvme0n1/size": "7501476528\n",
      "/sys/block/nvme0n1/device/model": "SAMSUNG MZQL27T6HBLA\n",
      "/sys/block/sda/size": "1000000\n",
      "/sys/block/sda/queue/rotational": "1\n",
      "/sys/block/loop0/size": "100\n",
      "/proc/mounts": [
        "proc /proc proc rw 0 0",
        "tmpfs /run tmpfs rw 0 0",
        "nfs1:/export/home /home nfs4 rw 0 0",
        "lustre@o2ib:/scratch /scratch\\040space lustre rw 0 0",
        "",
      ].join("\n"),
      "/run/.keep": "",
    });
    // A `stat` that hangs for the NFS mount, as on a dead NFS server, and works elsewhere.
    const stat = `${root}/fake-stat`;
    await Deno.writeTextFile(
      stat,
      `#!/bin/sh\ncase "$*" in *"/home"*) exec sleep 30;; esac\nexec stat "$@"\n`,
    );
    await Deno.chmod(stat, 0o755);
    const started = performance.now();
    const storage = await detectStorage(sourcesAt(root, { stat }), 500);
    const tookMs = performance.now() - started;
    assert.ok(tookMs < 10_000, `the hung statvfs was cut off (took ${tookMs} ms)`);
    assert.equal(storage.node_type, "local_storage");
    assert.deepEqual(storage.local_disks, [
      {
        device: "nvme0n1",
        model: "SAMSUNG MZQL27T6HBLA",
        capacity_bytes: 7501476528 * 512,
        disk_type: "nvme",
      },
      { device: "sda", model: "", capacity_bytes: 1000000 * 512, disk_type: "hdd" },
    ]);
    assert.deepEqual(storage.mounts.map((m) => [m.path, m.fs_type, m.source]), [
      ["/run", "tmpfs", "tmpfs"],
      ["/home", "nfs", "nfs1:/export/home"],
      ["/scratch space", "lustre", "lustre@o2ib:/scratch"],
    ]);
    const [run, home, scratch] = storage.mounts;
    assert.ok(run!.total_bytes > 0, "a live statvfs of the fixture's /run");
    assert.deepEqual([home!.total_bytes, home!.available_bytes], [0, 0]);
    assert.deepEqual([scratch!.total_bytes, scratch!.available_bytes], [0, 0], "no such path");
  });
});

Deno.test("detectStorage() without /sys/block is diskless", async () => {
  await withRoot(async (root) => {
    const storage = await detectStorage(sourcesAt(root), 500);
    assert.equal(storage.node_type, "diskless");
    assert.deepEqual(storage.local_disks, []);
  });
});
