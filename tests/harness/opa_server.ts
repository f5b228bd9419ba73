/**
 * A stand-in for OPA in tests (the OPA binary is not installable here). It
 * serves OPA's documented REST Data API contract on loopback:
 *
 * - `POST /v1/data/pact/authz` with `{"input": ...}` → `{"result": {"allow", "reasons"}}`
 * - `POST /v1/data/pact/authz/allow` → `{"result": <bool>}`
 * - `PUT /v1/data/pact/<name>` stores a data document (204), e.g. `roles`, `freeze`
 * - any other `/v1/data/...` path → `{}` (an undefined document)
 * - `GET /health` → `200 {}`
 *
 * and evaluates the rules of `deploy/policy/pact/authz.rego` with the same
 * input contract. Tests can slow it down (`delayMs`), stop it (connection
 * refused) and start it again on the same port.
 */

/** The input document the journal sends. */
interface Input {
  identity: { principal: string; role: string; principal_type: string };
  action: string;
  scope: { kind: string; id: string; vcluster: string };
  command: string;
  policy: {
    regulated: boolean;
    emergency_allowed: boolean;
    ai_exec_allowed: boolean;
  };
}

const READ = new Set(["status", "diff", "log", "watch", "cap"]);
const WRITE = new Set([
  "commit",
  "rollback",
  "exec",
  "shell",
  "service_start",
  "service_stop",
  "service_restart",
  "delegation",
  "blacklist",
]);
const EMERGENCY = new Set(["emergency_start", "emergency_end"]);
const ADMIN_ONLY = new Set(["policy_update", "enroll"]);

/** Site data documents under `data.pact`. */
export interface OpaData {
  roles?: Record<string, { vcluster: string; actions: string[] }[]>;
  freeze?: Record<string, string>;
}

/** What `data.pact.authz` evaluates to for `input`, as the Rego policy defines it. */
export function evaluateAuthz(input: Input, data: OpaData): { allow: boolean; reasons: string[] } {
  const role = input.identity.role;
  const vc = input.scope.vcluster;
  const action = input.action;
  const scoped = (prefix: string) =>
    role.startsWith(prefix) && role.length > prefix.length ? role.slice(prefix.length) : undefined;
  const granted = role === "pact-platform-admin" ||
    (scoped("pact-ops-") === vc && !ADMIN_ONLY.has(action)) ||
    (scoped("pact-regulated-") === vc && !ADMIN_ONLY.has(action) && !EMERGENCY.has(action)) ||
    (scoped("pact-viewer-") === vc && READ.has(action)) ||
    (role === "pact-service-agent" &&
      (READ.has(action) || (action === "record" && input.scope.kind === "node"))) ||
    (role === "pact-service-ai" &&
      (READ.has(action) || (action === "exec" && input.policy.ai_exec_allowed))) ||
    (data.roles?.[role] !== undefined && READ.has(action)) ||
    (data.roles?.[role] ?? []).some((b) =>
      b.vcluster === vc && b.actions.includes(action) && !EMERGENCY.has(action)
    );
  const reasons: string[] = [];
  if (role === "pact-service-ai" && EMERGENCY.has(action)) {
    reasons.push("the AI service role may never start or end emergency mode");
  }
  if (EMERGENCY.has(action) && input.identity.principal_type !== "human") {
    reasons.push("emergency mode needs a human principal");
  }
  if (action === "emergency_start" && input.policy.emergency_allowed === false) {
    reasons.push(`emergency mode is not allowed on vCluster ${vc}`);
  }
  if (action === "exec" && input.policy.regulated && input.command.startsWith("sysctl -w")) {
    reasons.push("sysctl -w is not allowed on regulated vClusters");
  }
  const why = data.freeze?.[vc];
  if ((WRITE.has(action) || action === "emergency_start") && why !== undefined) {
    reasons.push(`vCluster ${vc} is in a change freeze: ${why}`);
  }
  reasons.sort();
  return { allow: granted && reasons.length === 0, reasons };
}

/** The fake OPA server. */
export class OpaServer {
  /** Added to every answer, to test the journal's 1 s timeout. */
  delayMs = 0;
  /** Inputs of the decisions asked so far. */
  readonly inputs: Input[] = [];
  readonly data: OpaData = {};
  #port: number;
  #server: Deno.HttpServer | undefined;

  private constructor(port: number) {
    this.#port = port;
  }

  /** Starts a server on a free loopback port. */
  static start(): OpaServer {
    const opa = new OpaServer(0);
    opa.#listen();
    return opa;
  }

  /** The Data API base the journal is configured with. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.#port}/v1/data/pact`;
  }

  /** True while serving. */
  get running(): boolean {
    return this.#server !== undefined;
  }

  /** Stops serving: connections are refused until `restart`. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    await server?.shutdown();
  }

  /** Serves again on the same port. */
  restart(): void {
    if (!this.#server) this.#listen();
  }

  #listen(): void {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: this.#port, onListen: () => {} },
      (request) => this.#handle(request),
    );
    this.#port = (this.#server.addr as Deno.NetAddr).port;
  }

  async #handle(request: Request): Promise<Response> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const path = new URL(request.url).pathname.replace(/\/+$/, "");
    if (request.method === "GET" && path === "/health") return json({});
    if (!path.startsWith("/v1/data/")) return json({ code: "not_found" }, 404);
    const doc = path.slice("/v1/data/".length).split("/");
    if (request.method === "PUT" && doc.length === 2 && doc[0] === "pact") {
      (this.data as Record<string, unknown>)[doc[1]!] = await request.json();
      return new Response(null, { status: 204 });
    }
    if (request.method !== "POST") return json({ code: "method_not_allowed" }, 405);
    let body: { input?: Input };
    try {
      body = await request.json();
    } catch {
      return json({ code: "invalid_parameter", message: "body is not JSON" }, 400);
    }
    if (doc.join("/") === "pact/authz" || doc.join("/") === "pact/authz/allow") {
      if (!body.input) return json({});
      this.inputs.push(body.input);
      const result = evaluateAuthz(body.input, this.data);
      return json({ result: doc.length === 3 ? result.allow : result });
    }
    return json({});
  }
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}
