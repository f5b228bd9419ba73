/**
 * The CLI's client for an agent's ShellService (port 9445): the service
 * RPCs for now. Heavy: import it lazily so that `pact --help` stays fast.
 */
import {
  type ClientReadableStream,
  credentials,
  Metadata,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import {
  type ServiceControlResponse,
  type ServiceLogChunk,
  type ServiceStatusResponse,
  ShellServiceClient,
} from "../../shared/proto/gen/pact/shell/shell.ts";
import { type ErrorCode, PactError } from "../../shared/errors/mod.ts";
import { parseEndpoint } from "./endpoint.ts";

/** The PactError codes an agent may send in its `pact-error-code` trailer. */
const KNOWN_CODES = new Set<string>([
  "UNAUTHENTICATED",
  "TOKEN_INVALID",
  "TOKEN_EXPIRED",
  "PERMISSION_DENIED",
  "POLICY_DENIED",
  "CONFLICT",
  "TIMEOUT",
  "NOT_WHITELISTED",
  "VALIDATION",
  "INVALID_ARGUMENT",
  "NOT_FOUND",
  "RESOURCE_EXHAUSTED",
  "CONFIG",
  "INTERNAL",
]);

/** Default port of the agent's shell server. */
export const AGENT_PORT = 9445;

/** Where and how to reach one agent. */
export interface AgentClientOptions {
  readonly endpoint: string;
  readonly token: string;
  readonly timeoutSeconds: number;
}

/** Promise-based access to an agent's service RPCs. */
export class AgentClient {
  readonly endpoint: string;
  readonly #client: ShellServiceClient;
  readonly #token: string;
  readonly #timeoutMs: number;

  constructor(options: AgentClientOptions) {
    const { address, tls } = parseEndpoint(options.endpoint, AGENT_PORT);
    this.endpoint = options.endpoint;
    this.#client = new ShellServiceClient(
      address,
      tls ? credentials.createSsl() : credentials.createInsecure(),
    );
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

  close(): void {
    this.#client.close();
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
    const trailer = error.metadata?.get("pact-error-code")[0];
    const details = error.details || error.message;
    if (typeof trailer === "string" && trailer !== "UNAVAILABLE" && KNOWN_CODES.has(trailer)) {
      return new PactError(trailer as ErrorCode, details);
    }
    switch (error.code) {
      case status.UNAVAILABLE:
        return new PactError(
          "UNAVAILABLE",
          `Agent unreachable at ${this.endpoint}: ${unavailableReason(details)}`,
        );
      case status.DEADLINE_EXCEEDED:
        return new PactError(
          "TIMEOUT",
          `Agent at ${this.endpoint} did not answer within ${this.#timeoutMs / 1000} s`,
        );
      case status.UNAUTHENTICATED:
        return new PactError("UNAUTHENTICATED", details);
      case status.PERMISSION_DENIED:
        return new PactError("PERMISSION_DENIED", details);
      case status.NOT_FOUND:
        return new PactError("NOT_FOUND", details);
      case status.INVALID_ARGUMENT:
        return new PactError("INVALID_ARGUMENT", details);
      case status.UNIMPLEMENTED:
        return new PactError("VALIDATION", details);
      default:
        return new PactError(
          "INTERNAL",
          `Agent error (${status[error.code] ?? error.code}): ${details}`,
        );
    }
  }
}

/** Shortens grpc-js's connection failure text to its cause. */
function unavailableReason(details: string): string {
  const reasons: Record<string, string> = {
    ECONNREFUSED: "connection refused",
    ENOTFOUND: "host not found (is the node name resolvable? else pass --agent)",
    EAI_AGAIN: "host not found (is the node name resolvable? else pass --agent)",
    EHOSTUNREACH: "host unreachable",
    ETIMEDOUT: "connection timed out",
    ECONNRESET: "connection reset",
    "Name resolution failed": "host not found (is the node name resolvable? else pass --agent)",
  };
  const match =
    /(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ETIMEDOUT|ECONNRESET|Name resolution failed)/
      .exec(
        details,
      );
  return match ? reasons[match[1]!]! : details;
}
