/**
 * Regenerates the TypeScript in shared/proto/gen/ from the .proto files
 * (buf + ts-proto, both from npm). With --check, generates into a
 * temporary directory and fails when the committed code is stale.
 */
const protoDir = new URL(".", import.meta.url).pathname;
const check = Deno.args.includes("--check");

async function generate(outDir: string): Promise<void> {
  const template = (await Deno.readTextFile(`${protoDir}/buf.gen.yaml`)).replace(
    /out: gen/,
    `out: ${outDir}`,
  );
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "npm:@bufbuild/buf@1.74.0/buf", "generate", "--template", template],
    cwd: protoDir,
    env: { DENO: Deno.execPath() },
  });
  const { code, stderr } = await command.output();
  if (code !== 0) {
    console.error(new TextDecoder().decode(stderr));
    Deno.exit(1);
  }
}

async function lint(): Promise<void> {
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "npm:@bufbuild/buf@1.74.0/buf", "lint"],
    cwd: protoDir,
  }).output();
  if (code !== 0) {
    console.error(`buf lint failed:\n${new TextDecoder().decode(stdout)}`);
    Deno.exit(1);
  }
}

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${prefix}${entry.name}`;
    if (entry.isDirectory) files.push(...await listFiles(`${dir}/${entry.name}`, `${path}/`));
    else files.push(path);
  }
  return files.sort();
}

await lint();
if (check) {
  const tmp = await Deno.makeTempDir({ prefix: "pact-proto-" });
  try {
    await generate(tmp);
    const fresh = await listFiles(tmp);
    const committed = await listFiles(`${protoDir}/gen`);
    const stale = fresh.filter((f) => !committed.includes(f)).concat(
      committed.filter((f) => !fresh.includes(f)),
    );
    for (const file of fresh.filter((f) => committed.includes(f))) {
      const a = await Deno.readTextFile(`${tmp}/${file}`);
      const b = await Deno.readTextFile(`${protoDir}/gen/${file}`);
      if (a !== b) stale.push(file);
    }
    if (stale.length > 0) {
      console.error(
        `Generated protobuf code is stale: ${stale.join(", ")}\nRun: deno task proto:gen`,
      );
      Deno.exit(1);
    }
    console.log("Generated protobuf code is up to date");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
} else {
  await Deno.remove(`${protoDir}/gen`, { recursive: true }).catch(() => {});
  await generate("gen");
  console.log("Regenerated shared/proto/gen");
}
