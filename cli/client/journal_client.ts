/**
 * The CLI's (and MCP server's) client for the journal's gRPC API. Heavy:
 * import it lazily (`await import(...)`) so that `pact --help` stays fast.
 */
import {
  type CallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  type ClientReadableStream,
  credentials,
  Metadata,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import {
  type AppendEntryRequest,
  type AppendEntryResponse,
  type ClusterStatus,
  ConfigServiceClient,
  type GetClusterStatusRequest,
  type GetJournalStatusRequest,
  type JournalStatus,
  type ListEntriesRequest,
  type ListNodeStatesResponse,
} from "../../shared/proto/gen/pact/journal/journal.ts";
import {
  BootConfigServiceClient,
  type ConfigUpdate,
  type SubscribeRequest,
} from "../../shared/proto/gen/pact/stream/stream.ts";
import type {
  BootOverlay,
  ConfigEntry,
  NodeState,
  VClusterPolicy,
} from "../../shared/proto/gen/pact/config/config.ts";
import {
  type DecideApprovalRequest,
  type DecideApprovalResponse,
  type EvaluateRequest,
  type EvaluateResponse,
  type ListPendingApprovalsRequest,
  type ListPendingApprovalsResponse,
  type ListPoliciesRequest,
  type ListPoliciesResponse,
  type PendingApproval,
  PolicyServiceClient,
  type UpdatePolicyRequest,
  type UpdatePolicyResponse,
} from "../../shared/proto/gen/pact/policy/policy.ts";
import { PactError } from "../../shared/errors/mod.ts";
import { parseEndpoint } from "./endpoint.ts";
import { grpcToPactError } from "./grpc_errors.ts";

/** Where and how to reach the journal. */
export interface JournalClientOptions {
  readonly endpoint: string;
  /** Bearer token sent with every call; "" sends none (an agent's mTLS certificate speaks for it). */
  readonly token: string;
  readonly timeoutSeconds: number;
  /** Channel credentials (an agent's mTLS); default: TLS with system roots for https, else plain. */
  readonly credentials?: ChannelCredentials | undefined;
  /** Extra channel options, e.g. the name the journal's certificate is checked against. */
  readonly channelOptions?: ChannelOptions | undefined;
  /** Extra metadata sent with every call (a read replica's forwarded identity). */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

type Unary<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => unknown;

/** Promise-based access to ConfigService and BootConfigService. */
export class JournalClient {
  readonly endpoint: string;
  readonly #config: ConfigServiceClient;
  readonly #boot: BootConfigServiceClient;
  readonly #policy: PolicyServiceClient;
  readonly #token: string;
  readonly #timeoutMs: number;
  readonly #headers: Readonly<Record<string, string>>;

  constructor(options: JournalClientOptions) {
    const { address, tls } = parseEndpoint(options.endpoint);
    const creds = options.credentials ??
      (tls ? credentials.createSsl() : credentials.createInsecure());
    const channelOptions = {
      "grpc.max_receive_message_length": 16 * 1024 * 1024,
      ...options.channelOptions,
    };
    this.endpoint = options.endpoint;
    this.#config = new ConfigServiceClient(address, creds, channelOptions);
    this.#boot = new BootConfigServiceClient(address, creds, {
      ...channelOptions,
      channelOverride: this.#config.getChannel(),
    });
    this.#policy = new PolicyServiceClient(address, creds, {
      ...channelOptions,
      channelOverride: this.#config.getChannel(),
    });
    this.#token = options.token;
    this.#headers = options.headers ?? {};
    this.#timeoutMs = options.timeoutSeconds * 1000;
  }

  evaluate(request: EvaluateRequest): Promise<EvaluateResponse> {
    return this.#unary(this.#policy.evaluate.bind(this.#policy), request);
  }

  getEffectivePolicy(vclusterId: string): Promise<VClusterPolicy> {
    return this.#unary(this.#policy.getEffectivePolicy.bind(this.#policy), { vclusterId });
  }

  listPolicies(): Promise<ListPoliciesResponse> {
    return this.#unary<ListPoliciesRequest, ListPoliciesResponse>(
      this.#policy.listPolicies.bind(this.#policy),
      {},
    );
  }

  updatePolicy(request: UpdatePolicyRequest): Promise<UpdatePolicyResponse> {
    return this.#unary(this.#policy.updatePolicy.bind(this.#policy), request);
  }

  listPendingApprovals(
    request: ListPendingApprovalsRequest,
  ): Promise<ListPendingApprovalsResponse> {
    return this.#unary(this.#policy.listPendingApprovals.bind(this.#policy), request);
  }

  getApproval(approvalId: string): Promise<PendingApproval> {
    return this.#unary(this.#policy.getApproval.bind(this.#policy), { approvalId });
  }

  decideApproval(request: DecideApprovalRequest): Promise<DecideApprovalResponse> {
    return this.#unary(this.#policy.decideApproval.bind(this.#policy), request);
  }

  appendEntry(request: AppendEntryRequest): Promise<AppendEntryResponse> {
    return this.#unary(this.#config.appendEntry.bind(this.#config), request);
  }

  getNodeState(nodeId: string): Promise<NodeState> {
    return this.#unary(this.#config.getNodeState.bind(this.#config), { nodeId });
  }

  listNodeStates(vclusterId = ""): Promise<ListNodeStatesResponse> {
    return this.#unary(this.#config.listNodeStates.bind(this.#config), { vclusterId });
  }

  getOverlay(vclusterId: string): Promise<BootOverlay> {
    return this.#unary(this.#config.getOverlay.bind(this.#config), { vclusterId });
  }

  getJournalStatus(): Promise<JournalStatus> {
    return this.#unary<GetJournalStatusRequest, JournalStatus>(
      this.#config.getJournalStatus.bind(this.#config),
      {},
    );
  }

  getClusterStatus(): Promise<ClusterStatus> {
    return this.#unary<GetClusterStatusRequest, ClusterStatus>(
      this.#config.getClusterStatus.bind(this.#config),
      {},
    );
  }

  getEntry(sequence: number): Promise<ConfigEntry> {
    return this.#unary(this.#config.getEntry.bind(this.#config), { sequence });
  }

  /** All entries the request selects (the server caps them at 10,000). */
  async listEntries(request: Partial<ListEntriesRequest>): Promise<ConfigEntry[]> {
    const call = this.#config.listEntries(
      { limit: 0, newestFirst: false, entryTypes: [], scope: undefined, ...request },
      this.#metadata(),
      { deadline: this.#deadline() },
    );
    const entries: ConfigEntry[] = [];
    for await (const entry of this.#stream<ConfigEntry>(call)) entries.push(entry);
    return entries;
  }

  /**
   * Live updates until `signal` aborts (then the iteration just ends). The
   * call starts when iteration does: a call cancelled before anyone read it
   * would raise its CANCELLED error with no listener (an uncaught error).
   */
  subscribe(request: Partial<SubscribeRequest>, signal: AbortSignal): AsyncIterable<ConfigUpdate> {
    const open = () =>
      this.#boot.subscribeConfigUpdates(
        {
          nodeId: "",
          vclusterId: "",
          fromSequence: 0,
          fromHead: false,
          scope: undefined,
          ...request,
        },
        this.#metadata(),
      );
    const stream = (call: ClientReadableStream<ConfigUpdate>) => this.#stream<ConfigUpdate>(call);
    return (async function* () {
      if (signal.aborted) return;
      const call = open();
      const cancel = () => call.cancel();
      signal.addEventListener("abort", cancel, { once: true });
      try {
        yield* stream(call);
      } finally {
        signal.removeEventListener("abort", cancel);
      }
    })();
  }

  /** Closes the connection. */
  close(): void {
    this.#config.close();
    this.#boot.close();
    this.#policy.close();
  }

  #unary<Req, Res>(method: Unary<Req, Res>, request: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      method(request, this.#metadata(), { deadline: this.#deadline() }, (error, response) => {
        if (error) reject(this.#toPactError(error));
        else resolve(response);
      });
    });
  }

  async *#stream<T>(call: ClientReadableStream<T>): AsyncGenerator<T> {
    try {
      for await (const message of call) yield message as T;
    } catch (err) {
      if ((err as ServiceError).code === status.CANCELLED) return;
      throw this.#toPactError(err as ServiceError);
    }
  }

  #metadata(): Metadata {
    const metadata = new Metadata();
    if (this.#token !== "") metadata.set("authorization", `Bearer ${this.#token}`);
    for (const [key, value] of Object.entries(this.#headers)) metadata.set(key, value);
    return metadata;
  }

  #deadline(): Date {
    return new Date(Date.now() + this.#timeoutMs);
  }

  #toPactError(error: ServiceError): PactError {
    return grpcToPactError(error, {
      peer: "Journal",
      endpoint: this.endpoint,
      timeoutMs: this.#timeoutMs,
    });
  }
}
