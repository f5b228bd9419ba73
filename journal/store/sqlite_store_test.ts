import { storeConformance } from "./conformance.ts";
import { SqliteStore } from "./sqlite_store.ts";

storeConformance("SqliteStore", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pact-sqlite-store-" });
  return {
    open: () => Promise.resolve(new SqliteStore(`${dir}/journal.db`)),
    dispose: () => Deno.remove(dir, { recursive: true }),
  };
});
