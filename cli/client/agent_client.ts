/**
 * The CLI's client for an agent's ShellService (port 9445): services,
 * exec, shell sessions and recordings, diagnostics and the node's drift
 * commands. Heavy: import it lazily so that `pact --help` stays fast.
 */
import {
  type ClientDuplexStream,
  type ClientReadableStream,
  Metadata,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import {
  type CommitRequest,
  type CommitResponse,
  type DiagChunk,
  type DiagRequest,
  type EmergencyRequest,
  type EmergencyResponse,
  type ExecOutput,
  type ExecRequest,
  type ExtendResponse,
  type GetCapabilityResponse,
  type GetDriftResponse,
  type ListCommandsResponse,
  type RecordingChunk,
  type RollbackResponse,
  type ServiceControlResponse,
  type ServiceLogChunk,
  type ServiceStatusResponse,
  type ShellInput,
  type ShellOutput,
  ShellServiceClient,
} from "../../shared/proto/gen/pact/shell/shell.ts";
import { PactError } from "../../shared/errors/mod.ts";
import {
  type AgentChannel,
  agentChannel,
  agentConnectionError,
  connectTimeout,
} from "./agent_channel.ts";
import { grpcToPactError } from "./grpc_errors.ts";

/** One message of the Exec stream. */
export type ExecMessage = NonNullable<ExecOutput["output"]>;

/** Default port of the agent's shell server. */
export const AGENT_PORT = 9445;

/** Where and how to reach one agent. */
export interface AgentClientOptions {
  /** `http://host:port`, or `https://host:port` for an agent serving TLS. */
  readonly endpoint: string;
  readonly token: string;
  /** Each call's deadline. */
  readonly timeoutSeconds: number;
  /** The node addressed: over TLS its certificate must name it. Default: the endpoint's host. */
  readonly nodeId?: string | undefined;
  /** Time to connect (TCP and TLS) before a call fails; default 5 s. */
  readonly connectTimeoutMs?: number | undefined;
  /** PEM CA bundle for TLS; default grpc-js's roots (GRPC_DEFAULT_SSL_ROOTS_FILE_PATH). */
  readonly caPem?: Uint8Array | undefined;
}

/** Promise-based access to an agent's service RPCs. */
export class AgentClient {
  readonly endpoint: string;
  readonly #client: ShellServiceClient;
  readonly #channel: AgentChannel;
  readonly #token: string;
  readonly #timeoutMs: number;

  constructor(options: AgentClientOptions) {
    this.#channel = agentChannel({ ...options, defaultPort: AGENT_PORT });
    this.endpoint = options.endpoint;
    const { address, credentials, connectTimeoutMs } = this.#channel;
    const client: ShellServiceClient = new ShellServiceClient(address, credentials, {
      ...this.#channel.options,
      interceptors: [connectTimeout(() => client.getChannel(), connectTimeoutMs)],
    });
    this.#client = client;
    this.#token = options.token;
    this.#timeoutMs = options.timeoutSeconds * 1000;
  }

  serviceStatus(name: string): Promise<ServiceStatusResponse> {
    return new Promise((resolve, reject) => {
      this.#client.serviceStatus(
        { name, action: "" },
        this.#metadata(),
        { deadline: this.#deadline() },
        (error, response) => error ? reject(this.#toPactError(error)) : resolve(response),
      );
    });
  }

  serviceControl(name: string, action: string): Promise<ServiceControlResponse> {
    return new Promise((resolve, reject) => {
      this.#client.serviceControl(
        { name, action },
        this.#metadata(),
        { deadline: this.#deadline() },
        (error, response) => error ? reject(this.#toPactError(error)) : resolve(response),
      );
    });
  }

  /** Log lines in chunks; with `follow` until `signal` aborts (then the iteration ends). */
  async *serviceLogs(
    request: { readonly name: string; readonly lines: number; readonly follow: boolean },
    signal: AbortSignal,
  ): AsyncGenerator<string[]> {
    const call: ClientReadableStream<ServiceLogChunk> = this.#client.serviceLogs(
      request,
      this.#metadata(),
      request.follow ? {} : { deadline: this.#deadline() },
    );
    const cancel = () => call.cancel();
    signal.addEventListener("abort", cancel, { once: true });
    try {
      for await (const chunk of call) yield (chunk as ServiceLogChunk).lines;
    } catch (err) {
      if ((err as ServiceError).code === status.CANCELLED) return;
      throw this.#toPactError(err as ServiceError);
    } finally {
      signal.removeEventListener("abort", cancel);
    }
  }

  /**
   * Opens an interactive shell stream (`pact shell`): write ShellInput
   * (Open first), read ShellOutput; refusals come as PactErrors.
   */
  shell(): ShellStream {
    const call: ClientDuplexStream<ShellInput, ShellOutput> = this.#client.shell(
      this.#metadata(),
    );
    const toPactError = (error: ServiceError) => this.#toPactError(error);
    return {
      write: (input) => void call.write(input),
      end: () => call.end(),
      cancel: () => call.cancel(),
      async *outputs() {
        try {
          for await (const output of call) yield output as ShellOutput;
        } catch (err) {
          if ((err as ServiceError).code === status.CANCELLED) return;
          throw toPactError(err as ServiceError);
        }
      },
    };
  }

  /** The bytes of a shell session's asciicast recording (`pact shell replay`). */
  async *getRecording(sessionId: string): AsyncGenerator<Uint8Array> {
    const call: ClientReadableStream<RecordingChunk> = this.#client.getRecording(
      { sessionId },
      this.#metadata(),
      { deadline: this.#deadline() },
    );
    try {
      for await (const chunk of call) yield (chunk as RecordingChunk).data;
    } catch (err) {
      throw this.#toPactError(err as ServiceError);
    }
  }

  /**
   * Runs one command (`pact exec`): its messages as they come (stdout,
   * stderr, summary, exit code). The deadline covers the whole command:
   * its timeout (0: the agent's 300 s) plus 30 s.
   */
  async *exec(request: ExecRequest, signal: AbortSignal): AsyncGenerator<ExecMessage> {
    const seconds = (request.timeoutSeconds || 300) + 30;
    const call: ClientReadableStream<ExecOutput> = this.#client.exec(
      request,
      this.#metadata(),
      { deadline: new Date(Date.now() + seconds * 1000) },
    );
    const cancel = () => call.cancel();
    signal.addEventListener("abort", cancel, { once: true });
    try {
      for await (const message of call) {
        const output = (message as ExecOutput).output;
        if (output) yield output;
      }
    } catch (err) {
      if ((err as ServiceError).code === status.CANCELLED && signal.aborted) return;
      throw this.#toPactError(err as ServiceError);
    } finally {
      signal.removeEventListener("abort", cancel);
    }
  }

  /** The commands the node's exec runs, and its whitelist mode. */
  /**
   * CollectDiag: the chunks the agent streams. When `signal` aborts (a
   * fleet run's per-node timeout) the call is cancelled and TIMEOUT thrown.
   */
  async *collectDiag(request: DiagRequest, signal: AbortSignal): AsyncGenerator<DiagChunk> {
    const call = this.#client.collectDiag(request, this.#metadata(), {
      deadline: this.#deadline(),
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
      throw this.#toPactError(error);
    } finally {
      signal.removeEventListener("abort", cancel);
    }
  }

  listCommands(): Promise<ListCommandsResponse> {
    return new Promise((resolve, reject) => {
      this.#client.listCommands(
        {},
        this.#metadata(),
        { deadline: this.#deadline() },
        (error, response) => error ? reject(this.#toPactError(error)) : resolve(response),
      );
    });
  }

  /** Declared vs actual, drift, window and emergency of the node (`pact diff`). */
  getDrift(): Promise<GetDriftResponse> {
    return this.#unary((done) =>
      this.#client.getDrift({}, this.#metadata(), { deadline: this.#deadline() }, done)
    );
  }

  /** Pushes the commit window's deadline out by `minutes` (`pact extend`). */
  extendCommitWindow(minutes: number): Promise<ExtendResponse> {
    return this.#unary((done) =>
      this.#client.extendCommitWindow(
        { additionalMinutes: minutes },
        this.#metadata(),
        { deadline: this.#deadline() },
        done,
      )
    );
  }

  /** Rolls the node's current drift back (`pact rollback`). */
  rollback(): Promise<RollbackResponse> {
    return this.#unary((done) =>
      this.#client.rollback({}, this.#metadata(), { deadline: this.#deadline() }, done)
    );
  }

  /** Starts or ends emergency mode (`pact emergency`). */
  emergency(request: EmergencyRequest): Promise<EmergencyResponse> {
    return this.#unary((done) =>
      this.#client.emergency(request, this.#metadata(), { deadline: this.#deadline() }, done)
    );
  }

  /** Commits the node's drift as a node delta, journaled with this token (`pact commit`). */
  commit(request: CommitRequest): Promise<CommitResponse> {
    return this.#unary((done) =>
      this.#client.commit(request, this.#metadata(), { deadline: this.#deadline() }, done)
    );
  }

  /** The node's latest capability report, as JSON text (`pact cap`). */
  getCapability(): Promise<GetCapabilityResponse> {
    return this.#unary((done) =>
      this.#client.getCapability({}, this.#metadata(), { deadline: this.#deadline() }, done)
    );
  }

  close(): void {
    this.#client.close();
  }

  #unary<T>(
    call: (done: (error: ServiceError | null, response: T) => void) => void,
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      call((error, response) => error ? reject(this.#toPactError(error)) : resolve(response));
    });
  }

  #metadata(): Metadata {
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${this.#token}`);
    return metadata;
  }

  #deadline(): Date {
    return new Date(Date.now() + this.#timeoutMs);
  }

  #toPactError(error: ServiceError): PactError {
    return agentConnectionError(error, this.#channel, this.endpoint) ?? grpcToPactError(error, {
      peer: "Agent",
      endpoint: this.endpoint,
      timeoutMs: this.#timeoutMs,
      notFoundHint: "is the node name resolvable? else pass --agent",
    });
  }
}

/** An open Shell stream. */
export interface ShellStream {
  write(input: ShellInput): void;
  /** Half-closes: the agent hangs the session up. */
  end(): void;
  cancel(): void;
  outputs(): AsyncGenerator<ShellOutput>;
}
