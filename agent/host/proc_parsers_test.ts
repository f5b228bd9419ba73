import assert from "node:assert/strict";
import { isPactError } from "../../shared/errors/mod.ts";
import { parseIpAddr, parseIpRoute, parseMountinfo, parseProcModules } from "./proc_parsers.ts";

Deno.test("parseMountinfo() reads fields, optional tags and octal escapes", () => {
  const text = [
    "36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
    "22 27 0:21 / /proc rw,relatime - proc proc rw",
    "",
  ].join("\n");
  const [first, second] = parseMountinfo(text);
  assert.deepEqual(first, {
    mountId: 36,
    parentId: 35,
    root: "/mnt1",
    mountPoint: "/mnt two",
    options: "rw,noatime",
    fsType: "ext3",
    source: "/dev/root",
    superOptions: "rw,errors=continue",
    readOnly: false,
  });
  assert.equal(second?.mountPoint, "/proc");
  assert.throws(() => parseMountinfo("garbage"), (err) => {
    assert.ok(isPactError(err, "INVALID_ARGUMENT"));
    assert.match(err.message, /^Cannot parse mountinfo line 1: "garbage"$/);
    return true;
  });
});

Deno.test("parseProcModules() reads name, size, users and state", () => {
  const [nvidia, drm] = parseProcModules(
    "nvidia 56344576 10 nvidia_modeset,nvidia_uvm, Live 0xffffffffc0a00000 (POE)\ndrm 622592 0 - Live 0x0\n",
  );
  assert.deepEqual(nvidia, {
    name: "nvidia",
    sizeBytes: 56_344_576,
    refCount: 10,
    usedBy: ["nvidia_modeset", "nvidia_uvm"],
    state: "Live",
  });
  assert.deepEqual(drm?.usedBy, []);
  assert.throws(() => parseProcModules("short line"), /Cannot parse \/proc\/modules line 1/);
});

Deno.test("parseIpAddr() and parseIpRoute() read ip -j output", () => {
  const links = parseIpAddr(JSON.stringify([{
    ifname: "eth0",
    mtu: 1500,
    flags: ["BROADCAST", "UP"],
    address: "aa:bb:cc:dd:ee:ff",
    addr_info: [{ local: "192.0.2.2", prefixlen: 24 }, { local: "fe80::1", prefixlen: 64 }],
  }]));
  assert.deepEqual(links, [{
    name: "eth0",
    mtu: 1500,
    up: true,
    mac: "aa:bb:cc:dd:ee:ff",
    addresses: ["192.0.2.2/24", "fe80::1/64"],
  }]);
  assert.deepEqual(parseIpRoute('[{"dst":"default","gateway":"192.0.2.1","dev":"eth0"}]'), [
    { destination: "default", gateway: "192.0.2.1", device: "eth0" },
  ]);
  assert.throws(() => parseIpAddr("{"), /Cannot parse ip -j addr/);
  assert.throws(() => parseIpAddr('{"a":1}'), /expected a JSON array/);
});
