/**
 * Fixture trees for the capability tests: a directory holding proc/, sys/
 * and usr/bin/ as a node would, plus fake vendor tools (shell scripts that
 * print what nvidia-smi and rocm-smi print, read from a file the test can
 * change between detections).
 */

/** Writes `files` (node path → content) below `root`. */
export async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    const real = `${root}${path}`;
    await Deno.mkdir(real.slice(0, real.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(real, text);
  }
}

/** Creates symbolic links (node path → target) below `root`. */
export async function linkTree(root: string, links: Record<string, string>): Promise<void> {
  for (const [path, target] of Object.entries(links)) {
    const real = `${root}${path}`;
    await Deno.mkdir(real.slice(0, real.lastIndexOf("/")), { recursive: true });
    await Deno.symlink(target, real);
  }
}

/**
 * A fake tool at `<root>/usr/bin/<name>` that prints `<root>/fake/<name>.out`
 * and exits with the number in `<root>/fake/<name>.code` (default 0).
 */
export async function fakeTool(root: string, name: string, output: string): Promise<void> {
  await writeTree(root, { [`/fake/${name}.out`]: output });
  const script = `${root}/usr/bin/${name}`;
  await Deno.mkdir(`${root}/usr/bin`, { recursive: true });
  await Deno.writeTextFile(
    script,
    [
      "#!/bin/sh",
      `cat "${root}/fake/${name}.out"`,
      `[ -f "${root}/fake/${name}.code" ] && exit "$(cat "${root}/fake/${name}.code")"`,
      "exit 0",
      "",
    ].join("\n"),
  );
  await Deno.chmod(script, 0o755);
}

/** Two sockets × two cores × two threads of a Xeon, as /proc/cpuinfo lists them. */
export function x86Cpuinfo(): string {
  const blocks: string[] = [];
  // Linux numbers the first thread of every core first: cpus 0-3, then their siblings 4-7.
  for (let cpu = 0; cpu < 8; cpu++) {
    const socket = Math.floor((cpu % 4) / 2);
    blocks.push(
      [
        `processor\t: ${cpu}`,
        "vendor_id\t: GenuineIntel",
        "model name\t: Intel(R) Xeon(R) Platinum 8480+ @ 2.00GHz",
        `physical id\t: ${socket}`,
        `core id\t\t: ${cpu % 2}`,
        "cache size\t: 107520 KB",
        "flags\t\t: fpu vme sse sse2 avx avx2 avx512f amx_tile lm",
      ].join("\n"),
    );
  }
  return `${blocks.join("\n\n")}\n`;
}

/** An x86 node with two NUMA nodes, L3 per socket, 2 MiB and 1 GiB hugepages. */
export async function x86Tree(root: string): Promise<void> {
  const files: Record<string, string> = {
    "/proc/cpuinfo": x86Cpuinfo(),
    "/proc/meminfo": [
      "MemTotal:       527988152 kB",
      "MemFree:        500000000 kB",
      "MemAvailable:   510000000 kB",
      "HugePages_Total:    1024",
      "HugePages_Free:      512",
      "Hugepagesize:       2048 kB",
      "",
    ].join("\n"),
    "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages": "4\n",
    "/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages": "3\n",
    "/sys/devices/system/cpu/cpu0/cpufreq/base_frequency": "2000000\n",
    "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq": "3800000\n",
    "/sys/devices/system/node/node0/cpulist": "0-1,4-5\n",
    "/sys/devices/system/node/node1/cpulist": "2-3,6-7\n",
    "/sys/devices/system/node/node0/meminfo": "Node 0 MemTotal:       263994076 kB\n",
    "/sys/devices/system/node/node1/meminfo": "Node 1 MemTotal:       263994076 kB\n",
    "/proc/modules": "nvidia 56000000 12 - Live 0x0\ncxi_ss1 1000 2 - Live 0x0\n",
  };
  for (let cpu = 0; cpu < 8; cpu++) {
    const socket = Math.floor((cpu % 4) / 2);
    const dir = `/sys/devices/system/cpu/cpu${cpu}`;
    files[`${dir}/topology/core_id`] = `${cpu % 2}\n`;
    files[`${dir}/topology/physical_package_id`] = `${socket}\n`;
    files[`${dir}/cache/index3/level`] = "3\n";
    files[`${dir}/cache/index3/size`] = "107520K\n";
    files[`${dir}/cache/index3/shared_cpu_list`] = socket === 0 ? "0-1,4-5\n" : "2-3,6-7\n";
    files[`${dir}/cache/index0/level`] = "1\n";
    files[`${dir}/cache/index0/size`] = "48K\n";
    files[`${dir}/cache/index0/shared_cpu_list`] = `${cpu}\n`;
  }
  await writeTree(root, files);
}

/** A Grace (Neoverse V2) node with SVE and no NUMA or sysfs information. */
export async function aarch64Tree(root: string): Promise<void> {
  const block = (cpu: number) =>
    [
      `processor\t: ${cpu}`,
      "BogoMIPS\t: 2000.00",
      "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics sve sve2 bf16",
      "CPU implementer\t: 0x41",
      "CPU architecture: 8",
      "CPU variant\t: 0x0",
      "CPU part\t: 0xd4f",
    ].join("\n");
  await writeTree(root, {
    "/proc/cpuinfo": `${[0, 1, 2, 3].map(block).join("\n\n")}\n`,
    "/proc/meminfo": "MemTotal:       874757120 kB\nMemAvailable:   800000000 kB\n",
  });
}

/** Four A100s as nvidia-smi prints them with NVIDIA_FIELDS; gpu 3 has 12 ECC errors. */
export const FOUR_A100 = [
  "0, NVIDIA A100-SXM4-80GB, 81920, 00000000:07:00.0, 0, Not Active",
  "1, NVIDIA A100-SXM4-80GB, 81920, 00000000:0F:00.0, 0, Not Active",
  "2, NVIDIA A100-SXM4-80GB, 81920, 00000000:47:00.0, [N/A], Not Active",
  "3, NVIDIA A100-SXM4-80GB, 81920, 00000000:4E:00.0, 12, Not Active",
  "",
].join("\n");
