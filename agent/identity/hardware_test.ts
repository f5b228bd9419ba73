import assert from "node:assert/strict";
import { readHardwareIdentity } from "./hardware.ts";

async function fakeSys(files: Record<string, string>, dirs: string[] = []): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "pact-sys-" });
  for (const dir of dirs) await Deno.mkdir(`${root}/${dir}`, { recursive: true });
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(`${root}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
    await Deno.writeTextFile(`${root}/${path}`, text);
  }
  return root;
}

Deno.test("readHardwareIdentity() reads the UUID, physical MACs in name order and the board serial", async () => {
  const root = await fakeSys({
    "dmi/product_uuid": "4C4C4544-0042-3510-8052-B4C04F564433\n",
    "dmi/board_serial": "CN7475\n",
    "net/eth1/type": "1\n",
    "net/eth1/address": "52:54:00:00:00:02\n",
    "net/eth0/type": "1\n",
    "net/eth0/address": "52:54:00:00:00:01\n",
    "net/veth9/type": "1\n",
    "net/veth9/address": "ae:00:00:00:00:09\n",
    "net/lo/type": "772\n",
    "net/lo/address": "00:00:00:00:00:00\n",
  }, ["net/eth0/device", "net/eth1/device"]);
  try {
    const identity = await readHardwareIdentity({ dmiDir: `${root}/dmi`, netDir: `${root}/net` });
    assert.equal(identity.smbiosUuid, "4c4c4544-0042-3510-8052-b4c04f564433");
    assert.equal(identity.macAddress, "52:54:00:00:00:01");
    assert.deepEqual(identity.macAddresses, ["52:54:00:00:00:01", "52:54:00:00:00:02"]);
    assert.equal(identity.bmcSerial, "CN7475");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("readHardwareIdentity() skips firmware placeholders and fails with one line when nothing identifies the machine", async () => {
  const root = await fakeSys({
    "dmi/product_uuid": "Not Specified\n",
    "dmi/board_serial": "To Be Filled By O.E.M.\n",
    "net/lo/type": "772\n",
    "net/lo/address": "00:00:00:00:00:00\n",
  });
  try {
    await assert.rejects(
      () => readHardwareIdentity({ dmiDir: `${root}/dmi`, netDir: `${root}/net` }),
      (err: Error) => {
        assert.match(err.message, /^Cannot identify this machine: no SMBIOS UUID/);
        assert.equal(err.message.split("\n").length, 1);
        return true;
      },
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("readHardwareIdentity() on this host presents a MAC that /sys/class/net lists", async () => {
  let identity;
  try {
    identity = await readHardwareIdentity();
  } catch (err) {
    // A host without a physical NIC or readable DMI (some containers) says so in one line.
    assert.match((err as Error).message, /^Cannot identify this machine/);
    return;
  }
  const listed: string[] = [];
  for await (const entry of Deno.readDir("/sys/class/net")) {
    listed.push((await Deno.readTextFile(`/sys/class/net/${entry.name}/address`)).trim());
  }
  if (identity.macAddress !== "") assert.ok(listed.includes(identity.macAddress));
  else assert.match(identity.smbiosUuid, /^[0-9a-f-]{36}$/);
});
