import assert from "node:assert/strict";
import { RotatingLog } from "./rotating_log.ts";

const text = new TextEncoder();

Deno.test("RotatingLog keeps at most `files` files of at most `fileBytesMax` bytes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const log = new RotatingLog(dir, "chatty", { fileBytesMax: 100, files: 3 });
    for (let line = 0; line < 200; line++) {
      await log.write(text.encode(`line ${String(line).padStart(4, "0")}\n`)); // 10 bytes each
    }
    const files = await log.files();
    assert.deepEqual(files.map((f) => f.slice(dir.length + 1)), [
      "chatty.log",
      "chatty.log.1",
      "chatty.log.2",
    ]);
    for (const file of files) assert.ok((await Deno.stat(file)).size <= 100, file);
    let total = 0;
    for await (const entry of Deno.readDir(dir)) {
      total += (await Deno.stat(`${dir}/${entry.name}`)).size;
    }
    assert.ok(total <= 300, `${total} bytes on disk`);
    // The newest output survives; the oldest is gone.
    assert.deepEqual(await log.tail(2), ["line 0198", "line 0199"]);
    assert.equal((await log.tail(1000)).length, 30);
    assert.equal((await log.tail(1000))[0], "line 0170");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RotatingLog splits a chunk larger than a whole file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const log = new RotatingLog(dir, "big", { fileBytesMax: 8, files: 2 });
    await log.write(text.encode("0123456789abcdefXYZ"));
    assert.equal(await Deno.readTextFile(`${dir}/big.log`), "XYZ");
    assert.equal(await Deno.readTextFile(`${dir}/big.log.1`), "89abcdef");
    assert.deepEqual(await log.tail(5), ["89abcdefXYZ"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RotatingLog.follow() yields new output until aborted", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const log = new RotatingLog(dir, "svc", { fileBytesMax: 1000, files: 1 });
    await log.write(text.encode("before\n"));
    const stop = new AbortController();
    const seen: string[] = [];
    const following = (async () => {
      for await (const chunk of log.follow(stop.signal)) {
        seen.push(new TextDecoder().decode(chunk));
        if (seen.length === 2) stop.abort();
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 10));
    await log.write(text.encode("one\n"));
    await log.write(text.encode("two\n"));
    await following;
    assert.deepEqual(seen, ["one\n", "two\n"], "follow starts at the end, like tail -f");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RotatingLog refuses impossible limits", () => {
  assert.throws(() => new RotatingLog("/tmp", "x", { fileBytesMax: 0, files: 1 }), RangeError);
  assert.throws(() => new RotatingLog("/tmp", "x", { fileBytesMax: 10, files: 0 }), RangeError);
});
