/**
 * Network changes as they happen: `ip monitor link address route` prints a
 * line for every netlink notification, and each burst of lines triggers the
 * network probe at once (source `netlink`) instead of waiting for the next
 * periodic probe. Linux only; the sandbox relies on the periodic probe.
 */
import type { ProbeObserver } from "./probe_observer.ts";

/** Options of a NetlinkObserver. */
export interface NetlinkObserverOptions {
  readonly probes: ProbeObserver;
  /** Quiet time after the last line before probing, so a burst probes once. */
  readonly settleMs?: number;
  /** The monitor command; tests may substitute another line source. */
  readonly command?: readonly string[];
  readonly onError?: (err: unknown) => void;
}

/** Follows `ip monitor` and probes the network on every change. */
export class NetlinkObserver {
  readonly #options: NetlinkObserverOptions;
  #child: Deno.ChildProcess | undefined;
  #reading: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: NetlinkObserverOptions) {
    this.#options = options;
  }

  /** Starts `ip monitor`; resolves once it runs. */
  start(): Promise<void> {
    const [command, ...args] = this.#options.command ??
      ["ip", "monitor", "link", "address", "route"];
    this.#child = new Deno.Command(command!, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.#reading = this.#read(this.#child.stdout);
    return Promise.resolve();
  }

  /** Stops `ip monitor` and any pending probe trigger. */
  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    try {
      this.#child?.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await this.#child?.status;
    await this.#reading;
  }

  async #read(stream: ReadableStream<Uint8Array>): Promise<void> {
    try {
      for await (const _chunk of stream) {
        clearTimeout(this.#timer);
        this.#timer = setTimeout(() => {
          this.#options.probes.probe("network", "netlink").catch(
            this.#options.onError ?? console.error,
          );
        }, this.#options.settleMs ?? 20);
      }
    } catch (err) {
      (this.#options.onError ?? console.error)(err);
    }
  }
}
