/**
 * CollectDiag on an agent's ShellService (port 9445), for `pact diag`.
 * Heavy (gRPC): import it lazily. One client per agent; a fleet run makes
 * one per node and closes it when the node is done.
 */
import { credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import {
  type DiagChunk,
  type DiagRequest,
  ShellServiceClient,
} from "../../shared/proto/gen/pact/shell/shell.ts";
import { PactError } from "../../shared/errors/mod.ts";
import { parseEndpoint } from "./endpoint.ts";
import { grpcToPactError } from "./grpc_errors.ts";

/** Default port of the agent's shell server. */
const AGENT_PORT = 9445;

/** Where and how to reach one agent. */
export interface DiagClientOptions {
  readonly endpoint: string;
  readonly token: string;
  readonly timeoutSeconds: number;
}

/** An agent's CollectDiag. */
export class DiagClient {
  readonly endpoint: string;
  readonly #client: ShellServiceClient;
  readonly #token: string;
  readonly #timeoutMs: number;

  constructor(options: DiagClientOptions) {
    const { address, tls } = parseEndpoint(options.endpoint, AGENT_PORT);
    this.endpoint = options.endpoint;
    this.#client = new ShellServiceClient(
      address,
      tls ? credentials.createSsl() : credentials.createInsecure(),
    );
    this.#token = options.token;
    this.#timeoutMs = options.timeoutSeconds * 1000;
  }

  /** The chunks the agent streams; stops (cancels the call) when `signal` aborts. */
  async *collectDiag(request: DiagRequest, signal: AbortSignal): AsyncGenerator<DiagChunk> {
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${this.#token}`);
    const call = this.#client.collectDiag(request, metadata, {
      deadline: new Date(Date.now() + this.#timeoutMs),
    });
    const cancel = () => call.cancel();
    signal.addEventListener("abort", cancel, { once: true });
    try {
      for await (const chunk of call) yield chunk as DiagChunk;
    } catch (err) {
      const error = err as ServiceError;
      if (error.code === status.CANCELLED && signal.aborted) {
        throw new PactError("TIMEOUT", `Agent at ${this.endpoint}: call cancelled`);
      }
      throw grpcToPactError(error, {
        peer: "Agent",
        endpoint: this.endpoint,
        timeoutMs: this.#timeoutMs,
        notFoundHint: "is the node name resolvable? else pass --agent",
      });
    } finally {
      signal.removeEventListener("abort", cancel);
    }
  }

  close(): void {
    this.#client.close();
  }
}
