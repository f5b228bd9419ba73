/**
 * One health probe of a running service: process (still alive), http (GET
 * returns 2xx) or tcp (127.0.0.1:port accepts a connection), each bounded
 * by the check's timeout.
 */
import type { HealthCheckSpec } from "./service_spec.ts";

/** The outcome of one probe; `detail` says why it failed. */
export interface ProbeResult {
  readonly healthy: boolean;
  readonly detail: string;
}

/** Runs one probe; `alive` says whether the service's process is still running. */
export async function probeHealth(check: HealthCheckSpec, alive: boolean): Promise<ProbeResult> {
  if (!alive) return { healthy: false, detail: "process is not running" };
  switch (check.kind) {
    case "process":
      return { healthy: true, detail: "process is running" };
    case "http":
      return await probeHttp(check.url, check.timeoutMs);
    case "tcp":
      return await probeTcp(check.port, check.timeoutMs);
  }
}

async function probeHttp(url: string, timeoutMs: number): Promise<ProbeResult> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    return response.ok
      ? { healthy: true, detail: `GET ${url}: ${response.status}` }
      : { healthy: false, detail: `GET ${url}: ${response.status}` };
  } catch (err) {
    const reason = err instanceof DOMException && err.name === "TimeoutError"
      ? `no answer within ${timeoutMs} ms`
      : (err as Error).message;
    return { healthy: false, detail: `GET ${url}: ${reason}` };
  }
}

async function probeTcp(port: number, timeoutMs: number): Promise<ProbeResult> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const connecting = Deno.connect({ hostname: "127.0.0.1", port });
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    const result = await Promise.race([connecting, timeout]);
    if (result === "timeout") {
      connecting.then((conn) => conn.close(), () => {});
      return {
        healthy: false,
        detail: `tcp 127.0.0.1:${port}: no connection within ${timeoutMs} ms`,
      };
    }
    result.close();
    return { healthy: true, detail: `tcp 127.0.0.1:${port}: connected` };
  } catch (err) {
    return { healthy: false, detail: `tcp 127.0.0.1:${port}: ${(err as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
}
