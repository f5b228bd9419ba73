/**
 * Client of OPA's REST Data API. The journal posts one input document per
 * decision to `POST {endpoint}/authz` (endpoint e.g.
 * `http://localhost:8181/v1/data/pact`, so the package is `pact.authz`) and
 * reads `{"result": {"allow": bool, "reasons": [...]}}`. Anything but an
 * answer within the timeout is an OpaUnavailableError: the caller decides
 * in degraded mode.
 */
import { PactError } from "../../shared/errors/mod.ts";

/** The input document every decision sends (one contract for all policies). */
export interface OpaInput {
  readonly identity: {
    readonly principal: string;
    readonly role: string;
    readonly principal_type: string;
  };
  readonly action: string;
  readonly scope: {
    /** `global`, `vcluster` or `node`. */
    readonly kind: string;
    readonly id: string;
    /** The vCluster the scope belongs to, "" when none. */
    readonly vcluster: string;
  };
  readonly command: string;
  /** The vCluster's effective policy flags rules may use. */
  readonly policy: {
    readonly policy_id: string;
    readonly regulated: boolean;
    readonly two_person_approval: boolean;
    readonly emergency_allowed: boolean;
    readonly ai_exec_allowed: boolean;
    readonly exec_whitelist: readonly string[];
  };
}

/** OPA's answer. */
export interface OpaVerdict {
  readonly allow: boolean;
  readonly reasons: readonly string[];
}

/** OPA could not be asked (refused, timed out, answered garbage or an HTTP error). */
export class OpaUnavailableError extends PactError {
  /** Short reason for metrics: `unreachable`, `timeout`, `http_<status>`, `bad_response`. */
  readonly reason: string;

  constructor(reason: string, message: string, options?: ErrorOptions) {
    super("UNAVAILABLE", message, options);
    this.reason = reason;
  }
}

/** How to reach OPA. */
export interface OpaClientOptions {
  /** The Data API base for pact's packages, e.g. `http://localhost:8181/v1/data/pact`. */
  readonly endpoint: string;
  /** Rule path below the endpoint. Default `authz`. */
  readonly decisionPath?: string;
  /** Per-request limit. Default 1000 ms (reference: 1 s). */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

/** Asks OPA for decisions over HTTP. */
export class OpaClient {
  readonly endpoint: string;
  readonly decisionUrl: string;
  readonly healthUrl: string;
  readonly timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: OpaClientOptions) {
    const base = options.endpoint.replace(/\/+$/, "");
    this.endpoint = base;
    this.decisionUrl = `${base}/${options.decisionPath ?? "authz"}`;
    this.healthUrl = `${new URL(base).origin}/health`;
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.#fetch = options.fetch ?? fetch;
  }

  /** One decision; throws OpaUnavailableError when OPA does not answer properly in time. */
  async decide(input: OpaInput): Promise<OpaVerdict> {
    const body = await this.#request(this.decisionUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ input }),
    });
    return verdictOf(body, this.decisionUrl);
  }

  /** Checks OPA's `/health`; throws OpaUnavailableError when it is not healthy. */
  async probe(): Promise<void> {
    await this.#request(this.healthUrl, { method: "GET" });
  }

  async #request(url: string, init: RequestInit): Promise<unknown> {
    let response: Response;
    try {
      response = await this.#fetch(url, { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      const name = (err as Error)?.name;
      if (name === "TimeoutError" || name === "AbortError") {
        throw new OpaUnavailableError(
          "timeout",
          `OPA at ${url} did not answer within ${this.timeoutMs} ms`,
        );
      }
      throw new OpaUnavailableError(
        "unreachable",
        `OPA unreachable at ${url}: ${(err as Error)?.message ?? err}`,
        { cause: err },
      );
    }
    let text: string;
    try {
      text = await response.text();
    } catch (err) {
      throw new OpaUnavailableError("unreachable", `OPA at ${url} broke off its answer`, {
        cause: err,
      });
    }
    if (!response.ok) {
      throw new OpaUnavailableError(
        `http_${response.status}`,
        `OPA at ${url} answered HTTP ${response.status}: ${text.slice(0, 200)}`,
      );
    }
    try {
      return text === "" ? {} : JSON.parse(text);
    } catch {
      throw new OpaUnavailableError("bad_response", `OPA at ${url} answered with invalid JSON`);
    }
  }
}

/**
 * Reads `result` as a decision. An undefined result (no policy loaded at
 * that path) denies: OPA answered, and nothing in it allows the action.
 */
function verdictOf(body: unknown, url: string): OpaVerdict {
  const result = (body as { result?: unknown } | null)?.result;
  if (typeof result === "boolean") return { allow: result, reasons: [] };
  if (result === undefined || result === null) {
    return { allow: false, reasons: [`OPA has no decision at ${url} (is the policy loaded?)`] };
  }
  if (typeof result !== "object") {
    throw new OpaUnavailableError("bad_response", `OPA at ${url} answered a ${typeof result}`);
  }
  const doc = result as { allow?: unknown; reasons?: unknown; deny?: unknown };
  const reasons = [doc.reasons, doc.deny].flatMap((list) =>
    Array.isArray(list) ? list.filter((r): r is string => typeof r === "string") : []
  );
  return { allow: doc.allow === true, reasons };
}
