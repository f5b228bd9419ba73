/**
 * How the running agent reaches the journal: with the node's mTLS
 * certificate when it enrolled (agent/identity), else with its bearer token
 * (role `pact-service-agent`). After a certificate renewal or re-enrollment
 * new calls go through a client built with the new certificate; the old
 * client stays open for a grace period so that calls and streams in
 * progress finish on it (dual-channel rotation, reference E6).
 */
import { Buffer } from "node:buffer";
import type { JournalClient } from "../cli/client/journal_client.ts";
import { formatHostPort, type HostPort } from "../shared/config/listen_address.ts";
import type { ConfigEntry } from "../shared/proto/gen/pact/config/config.ts";
import type { AgentIdentity } from "./identity/mod.ts";
import type { EntrySink } from "./node_agent.ts";

/** How long a replaced client stays open for the calls still running on it. */
const RETIRE_GRACE_MS = 60_000;

/** Credentials the agent holds: a token, an enrolled identity, or both. */
export interface AgentCredentials {
  readonly token: string | undefined;
  readonly identity: AgentIdentity | undefined;
  /** `[agent.journal] tls_*` files, used when the agent did not enroll. */
  readonly tls?: { readonly ca: Uint8Array; readonly key: Uint8Array; readonly cert: Uint8Array };
}

/** The agent's journal clients; `client()` is always built with the current credentials. */
export class JournalConnection implements EntrySink {
  readonly endpoint: string;
  readonly #credentials: AgentCredentials;
  readonly #make: (options: ConstructorParameters<typeof JournalClient>[0]) => JournalClient;
  #current: JournalClient | undefined;
  readonly #retiring = new Set<ReturnType<typeof setTimeout>>();
  readonly #unsubscribe: (() => void) | undefined;
  #closed = false;

  private constructor(
    endpoint: HostPort,
    credentials: AgentCredentials,
    make: (options: ConstructorParameters<typeof JournalClient>[0]) => JournalClient,
  ) {
    this.#credentials = credentials;
    this.#make = make;
    this.endpoint = `${credentials.identity || credentials.tls ? "https" : "http"}://${
      formatHostPort(endpoint)
    }`;
    this.#unsubscribe = credentials.identity?.onChange(() => this.#rotate());
  }

  /**
   * Opens the connection to the first of `endpoints`; undefined when there
   * is no endpoint or no credential (the agent then runs without a journal).
   */
  static async open(
    endpoints: readonly HostPort[],
    credentials: AgentCredentials,
  ): Promise<JournalConnection | undefined> {
    const endpoint = endpoints[0];
    if (!endpoint || (!credentials.token && !credentials.identity)) return undefined;
    // Loaded lazily: a boot from the cache never waits on grpc-js.
    const { JournalClient } = await import("../cli/client/journal_client.ts");
    const { credentials: grpcCredentials } = await import("@grpc/grpc-js");
    const files = credentials.tls;
    const fileCredentials = files &&
      grpcCredentials.createSsl(
        Buffer.from(files.ca),
        Buffer.from(files.key),
        Buffer.from(files.cert),
      );
    return new JournalConnection(
      endpoint,
      credentials,
      (options) =>
        new JournalClient(
          options.credentials || !fileCredentials
            ? options
            : { ...options, credentials: fileCredentials },
        ),
    );
  }

  /** How the connection authenticates, in words. */
  get describe(): string {
    const identity = this.#credentials.identity;
    return identity
      ? `mTLS as node ${identity.held.nodeId} (certificate ${identity.held.serial})`
      : "bearer token";
  }

  /** A client with the current credentials. */
  client(): JournalClient {
    if (this.#closed) throw new TypeError("JournalConnection is closed");
    if (!this.#current) {
      const identity = this.#credentials.identity;
      this.#current = this.#make({
        endpoint: this.endpoint,
        // With a certificate the node speaks for itself; a token would only confuse.
        token: identity ? "" : this.#credentials.token ?? "",
        timeoutSeconds: 5,
        ...(identity
          ? { credentials: identity.credentials(), channelOptions: identity.channelOptions() }
          : {}),
      });
    }
    return this.#current;
  }

  /** EntrySink: one AppendEntry through the current client. */
  async append(entry: ConfigEntry): Promise<number> {
    return (await this.client().appendEntry({ entry })).sequence;
  }

  /** Closes every client now. */
  close(): void {
    this.#closed = true;
    this.#unsubscribe?.();
    for (const timer of this.#retiring) clearTimeout(timer);
    this.#retiring.clear();
    this.#current?.close();
    this.#current = undefined;
  }

  #rotate(): void {
    const old = this.#current;
    this.#current = undefined;
    if (!old) return;
    const timer = setTimeout(() => {
      this.#retiring.delete(timer);
      old.close();
    }, RETIRE_GRACE_MS);
    Deno.unrefTimer(timer);
    this.#retiring.add(timer);
  }
}
