/**
 * The CLI's client for the journal's EnrollmentService (registry, CA
 * bundle). Heavy: import it lazily.
 */
import { type CallOptions, credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import {
  type AssignNodeResponse,
  type BatchRegisterNodesResponse,
  type CaBundle,
  type DecommissionNodeResponse,
  EnrollmentServiceClient,
  type ListNodesRequest,
  type ListNodesResponse,
  type MoveNodeResponse,
  type NodeEnrollment,
  type RegisterNodeRequest,
  type RegisterNodeResponse,
} from "../../shared/proto/gen/pact/enrollment/enrollment.ts";
import { type ErrorCode, PactError } from "../../shared/errors/mod.ts";
import { parseEndpoint } from "./endpoint.ts";
import type { JournalClientOptions } from "./journal_client.ts";

type Unary<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => unknown;

const STATUS_CODES: Partial<Record<status, ErrorCode>> = {
  [status.UNAUTHENTICATED]: "UNAUTHENTICATED",
  [status.PERMISSION_DENIED]: "PERMISSION_DENIED",
  [status.ABORTED]: "CONFLICT",
  [status.NOT_FOUND]: "NOT_FOUND",
  [status.ALREADY_EXISTS]: "ALREADY_EXISTS",
  [status.FAILED_PRECONDITION]: "VALIDATION",
  [status.INVALID_ARGUMENT]: "INVALID_ARGUMENT",
  [status.RESOURCE_EXHAUSTED]: "RESOURCE_EXHAUSTED",
};

/** Promise-based access to the EnrollmentService. */
export class EnrollmentClient {
  readonly endpoint: string;
  readonly #client: EnrollmentServiceClient;
  readonly #token: string;
  readonly #timeoutMs: number;

  constructor(options: JournalClientOptions) {
    const { address, tls } = parseEndpoint(options.endpoint);
    this.endpoint = options.endpoint;
    this.#client = new EnrollmentServiceClient(
      address,
      tls ? credentials.createSsl() : credentials.createInsecure(),
    );
    this.#token = options.token;
    this.#timeoutMs = options.timeoutSeconds * 1000;
  }

  registerNode(request: RegisterNodeRequest): Promise<RegisterNodeResponse> {
    return this.#unary(this.#client.registerNode.bind(this.#client), request);
  }

  batchRegisterNodes(nodes: RegisterNodeRequest[]): Promise<BatchRegisterNodesResponse> {
    return this.#unary(this.#client.batchRegisterNodes.bind(this.#client), { nodes });
  }

  decommissionNode(nodeId: string, force: boolean): Promise<DecommissionNodeResponse> {
    return this.#unary(this.#client.decommissionNode.bind(this.#client), { nodeId, force });
  }

  assignNode(nodeId: string, vclusterId: string): Promise<AssignNodeResponse> {
    return this.#unary(this.#client.assignNode.bind(this.#client), { nodeId, vclusterId });
  }

  unassignNode(nodeId: string): Promise<AssignNodeResponse> {
    return this.#unary(this.#client.unassignNode.bind(this.#client), { nodeId });
  }

  moveNode(nodeId: string, toVclusterId: string): Promise<MoveNodeResponse> {
    return this.#unary(this.#client.moveNode.bind(this.#client), { nodeId, toVclusterId });
  }

  listNodes(request: ListNodesRequest): Promise<ListNodesResponse> {
    return this.#unary(this.#client.listNodes.bind(this.#client), request);
  }

  inspectNode(nodeId: string): Promise<NodeEnrollment> {
    return this.#unary(this.#client.inspectNode.bind(this.#client), { nodeId });
  }

  getCaBundle(): Promise<CaBundle> {
    return this.#unary(this.#client.getCaBundle.bind(this.#client), {});
  }

  close(): void {
    this.#client.close();
  }

  #unary<Req, Res>(method: Unary<Req, Res>, request: Req): Promise<Res> {
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${this.#token}`);
    return new Promise((resolve, reject) => {
      method(
        request,
        metadata,
        { deadline: new Date(Date.now() + this.#timeoutMs) },
        (error, response) => {
          if (error) reject(this.#toPactError(error));
          else resolve(response);
        },
      );
    });
  }

  #toPactError(error: ServiceError): PactError {
    const trailer = error.metadata?.get("pact-error-code")[0];
    const details = error.details || error.message;
    if (error.code === status.UNAVAILABLE && typeof trailer !== "string") {
      return new PactError("UNAVAILABLE", `Journal unreachable at ${this.endpoint}: ${details}`);
    }
    if (error.code === status.DEADLINE_EXCEEDED) {
      return new PactError(
        "TIMEOUT",
        `Journal at ${this.endpoint} did not answer within ${this.#timeoutMs / 1000} s`,
      );
    }
    const code = typeof trailer === "string" && trailer !== "UNAVAILABLE"
      ? trailer as ErrorCode
      : STATUS_CODES[error.code] ?? "INTERNAL";
    const result = new PactError(code, details);
    const rule = error.metadata?.get("pact-error-rule")[0];
    if (typeof rule === "string") Object.assign(result, { rule });
    return result;
  }
}
