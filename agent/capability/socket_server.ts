/**
 * The capability socket (reference §5.3): a unix socket where every
 * connection gets the latest report as one JSON document and is closed.
 * The request is empty: whatever the client sends is not read. A stale
 * socket file from an earlier run is replaced.
 */
import type { CapabilityReport } from "./report_types.ts";

/** An open capability socket. */
export interface CapabilitySocket {
  readonly path: string;
  /** Stops accepting, waits for answers in flight, removes the socket file. */
  close(): Promise<void>;
}

/** Longest time one answer may take to write before the connection is dropped. */
const ANSWER_TIMEOUT_MS = 5_000;

/** Listens on `path`, answering each connection with `report()`. */
export async function serveCapabilitySocket(
  path: string,
  report: () => Promise<CapabilityReport>,
  options: { readonly log: (line: string) => void },
): Promise<CapabilitySocket> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")) || "/", { recursive: true });
  await Deno.remove(path).catch(() => {});
  const listener = Deno.listen({ transport: "unix", path });
  await Deno.chmod(path, 0o660).catch(() => {});
  const inFlight = new Set<Promise<void>>();
  const answer = async (conn: Deno.UnixConn) => {
    const timer = setTimeout(() => conn.close(), ANSWER_TIMEOUT_MS);
    try {
      const bytes = new TextEncoder().encode(`${JSON.stringify(await report())}\n`);
      for (let sent = 0; sent < bytes.length;) sent += await conn.write(bytes.subarray(sent));
    } catch (err) {
      options.log(`capability: socket answer failed: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
      try {
        conn.close();
      } catch { /* closed by the timeout */ }
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) {
      const done: Promise<void> = answer(conn).finally(() => inFlight.delete(done));
      inFlight.add(done);
    }
  })().catch(() => {});
  return {
    path,
    async close() {
      listener.close();
      await accepting;
      await Promise.all(inFlight);
      await Deno.remove(path).catch(() => {});
    },
  };
}
