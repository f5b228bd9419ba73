/**
 * A minimal AppendEntry client that owns its HTTP/2 connection.
 *
 * JournalClient cannot be used for "N clients = N connections": grpc-js
 * keeps a process-wide subchannel pool keyed by target and channel options,
 * so every JournalClient in one process shares one connection. This client
 * sets `grpc.use_local_subchannel_pool`, so each instance dials its own
 * connection, as separate CLI processes or agents would. Otherwise it sends
 * what JournalClient sends (bearer token metadata, a deadline).
 */
import { credentials, Metadata } from "@grpc/grpc-js";
import {
  type AppendEntryRequest,
  type AppendEntryResponse,
  ConfigServiceClient,
} from "../../shared/proto/gen/pact/journal/journal.ts";
import { parseEndpoint } from "../../cli/client/endpoint.ts";

/** What the load phases need from a client; JournalClient fits too. */
export interface Appender {
  appendEntry(request: AppendEntryRequest): Promise<AppendEntryResponse>;
  close(): void;
}

/** An Appender with a connection of its own. */
export class DedicatedConnectionClient implements Appender {
  readonly #client: ConfigServiceClient;
  readonly #token: string;
  readonly #timeoutMs: number;

  constructor(endpoint: string, token: string, timeoutSeconds: number) {
    const { address } = parseEndpoint(endpoint);
    this.#client = new ConfigServiceClient(address, credentials.createInsecure(), {
      "grpc.use_local_subchannel_pool": 1,
    });
    this.#token = token;
    this.#timeoutMs = timeoutSeconds * 1000;
  }

  appendEntry(request: AppendEntryRequest): Promise<AppendEntryResponse> {
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${this.#token}`);
    const deadline = new Date(Date.now() + this.#timeoutMs);
    return new Promise((resolve, reject) => {
      this.#client.appendEntry(request, metadata, { deadline }, (error, response) => {
        if (error) reject(error);
        else resolve(response);
      });
    });
  }

  close(): void {
    this.#client.close();
  }
}
