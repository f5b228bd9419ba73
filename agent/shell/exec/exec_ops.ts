/**
 * `pact exec` on the agent (reference §2.11) as plain functions: the
 * caller must be able to read the node (viewer, ops or platform admin of
 * its vCluster); the command and its arguments pass decideExec; a
 * state-changing command needs ops or platform admin. Then an EXEC_LOG
 * `intent` entry is queued in the journal before the command runs, the
 * drift loop is told (a commit window opens, S5), the output streams out,
 * and an `outcome` entry records the exit code, duration, SHA-256 and
 * size of each stream. Refusals are journaled as well: decision `denied`,
 * or `learning` in learning mode for a plain non-whitelisted name (a
 * suggestion for the vCluster's `exec_whitelist`; the command is still
 * refused, S1).
 */
import type { Principal } from "../../../shared/auth/principal.ts";
import { parseRole } from "../../../shared/domain/roles.ts";
import { isPactError, PactError } from "../../../shared/errors/mod.ts";
import { type ConfigEntry, EntryType } from "../../../shared/proto/gen/pact/config/config.ts";
import type {
  ExecOutput,
  ExecRequest,
  ListCommandsResponse,
} from "../../../shared/proto/gen/pact/shell/shell.ts";
import { agentEntry } from "../../drift/drift_entries.ts";
import type { EntrySink } from "../../node_agent.ts";
import { requireAccess } from "../authorize.ts";
import { decideExec, type ExecDecision, type ExecFs, ExecRefused } from "./decide.ts";
import {
  EXEC_TIMEOUT_DEFAULT_SECONDS,
  EXEC_TIMEOUT_MAX_SECONDS,
  OUTPUT_BYTES_MAX,
  runCommand,
  type RunResult,
} from "./run.ts";
import type { Whitelist, WhitelistMode } from "./whitelist.ts";

/** One message of the Exec stream. */
export type ExecMessage = NonNullable<ExecOutput["output"]>;

/** What the operations run over. */
export interface ExecOpsDeps {
  readonly node: { readonly nodeId: string; readonly vcluster: string | undefined };
  readonly whitelist: Whitelist;
  readonly mode: WhitelistMode;
  readonly fs: ExecFs;
  /** The exec PATH to look commands up on (default /usr/bin:/bin). */
  readonly path?: readonly string[];
  /** Where EXEC_LOG entries go; undefined: they are only logged. */
  readonly journal: EntrySink | undefined;
  /** Tells the drift loop that a state-changing command runs (opens a commit window). */
  readonly onStateChanging: ((command: string) => void) | undefined;
  /** Between SIGTERM and SIGKILL when the timeout ends a command. */
  readonly killGraceMs?: number;
  readonly log: (line: string) => void;
}

/** Exec and ListCommands for an authenticated caller. */
export class ExecOps {
  readonly #deps: ExecOpsDeps;

  constructor(deps: ExecOpsDeps) {
    this.#deps = deps;
  }

  /** The commands this node runs, and the whitelist mode. */
  list(principal: Principal): ListCommandsResponse {
    requireAccess(principal, this.#deps.node, "read", "Listing exec commands");
    return {
      commands: this.#deps.whitelist.list().map((c) => ({
        command: c.command,
        stateChanging: c.stateChanging,
        description: c.description,
      })),
      mode: this.#deps.mode,
    };
  }

  /** Runs one command for `principal`, handing each message to `emit` (awaited). */
  async exec(
    principal: Principal,
    request: ExecRequest,
    emit: (message: ExecMessage) => Promise<void>,
    signal: AbortSignal,
  ): Promise<void> {
    const { node } = this.#deps;
    const execId = crypto.randomUUID();
    const shown = [request.command, ...request.args].join(" ");
    try {
      requireAccess(principal, node, "read", `Exec of ${JSON.stringify(shown)}`);
    } catch (err) {
      const reason = (err as Error).message;
      await this.#journal(principal, {
        execId,
        request,
        phase: "refused",
        refusal: { decision: "denied", reason },
      });
      throw err;
    }
    const decision = await this.#decide(principal, request, execId);
    const timeoutSeconds = Math.min(
      request.timeoutSeconds || EXEC_TIMEOUT_DEFAULT_SECONDS,
      EXEC_TIMEOUT_MAX_SECONDS,
    );
    const outputBytesMax = Math.min(request.outputLimitBytes || OUTPUT_BYTES_MAX, OUTPUT_BYTES_MAX);
    const record = { execId, request, decision };
    await this.#journal(principal, { ...record, phase: "intent" });
    if (decision.stateChanging) this.#deps.onStateChanging?.(shown);
    let result: RunResult;
    try {
      result = await runCommand({
        binary: decision.binary,
        args: request.args,
        timeoutMs: timeoutSeconds * 1000,
        outputBytesMax,
        killGraceMs: this.#deps.killGraceMs ?? 2_000,
        onOutput: (stream, bytes) =>
          emit(
            stream === "stdout"
              ? { $case: "stdout", value: bytes }
              : { $case: "stderr", value: bytes },
          ),
        signal,
      });
    } catch (err) {
      const message = `Exec of ${decision.binary} failed: ${(err as Error).message}`;
      await this.#journal(principal, { ...record, phase: "outcome", error: message });
      throw new PactError(err instanceof Deno.errors.NotFound ? "NOT_FOUND" : "INTERNAL", message);
    }
    await this.#journal(principal, { ...record, phase: "outcome", result });
    if (signal.aborted) return;
    await emit({
      $case: "summary",
      value: {
        execId,
        durationMs: result.durationMs,
        timedOut: result.timedOut,
        stdoutTruncated: result.stdout.truncated,
        stderrTruncated: result.stderr.truncated,
        decision: decision.decision,
        stateChanging: decision.stateChanging,
      },
    });
    await emit({ $case: "exitCode", value: result.exitCode });
  }

  /** The decision, or the refusal (journaled) as a PactError. */
  async #decide(principal: Principal, request: ExecRequest, execId: string): Promise<ExecDecision> {
    const { node } = this.#deps;
    let decision: ExecDecision;
    try {
      decision = decideExec(request.command, request.args, {
        whitelist: this.#deps.whitelist,
        platformAdmin: isPlatformAdmin(principal),
        fs: this.#deps.fs,
        ...(this.#deps.path ? { path: this.#deps.path } : {}),
      });
    } catch (err) {
      if (err instanceof ExecRefused) {
        const learning = this.#deps.mode === "learning" && err.suggestable;
        await this.#journal(principal, {
          execId,
          request,
          phase: "refused",
          refusal: { decision: learning ? "learning" : "denied", reason: err.message },
        });
      }
      throw err;
    }
    if (decision.stateChanging) {
      try {
        requireAccess(principal, node, "control", `State-changing exec of ${decision.command}`);
      } catch (err) {
        if (isPactError(err)) {
          await this.#journal(principal, {
            execId,
            request,
            decision,
            phase: "refused",
            refusal: { decision: "denied", reason: err.message },
          });
        }
        throw err;
      }
    }
    return decision;
  }

  async #journal(principal: Principal, record: JournalRecord): Promise<void> {
    const entry = execEntry(this.#deps.node.nodeId, principal, record);
    this.#deps.log(`shell: exec ${record.execId}: ${entry.message}`);
    if (!this.#deps.journal) return;
    try {
      await this.#deps.journal.append(entry);
    } catch (err) {
      // The queue reports its own failures; the caller's command still runs or answers.
      this.#deps.log(`shell: exec ${record.execId}: not journaled: ${(err as Error).message}`);
    }
  }
}

/** What one EXEC_LOG entry says. */
export interface JournalRecord {
  readonly execId: string;
  readonly request: ExecRequest;
  readonly phase: "intent" | "outcome" | "refused";
  readonly decision?: ExecDecision;
  readonly refusal?: { readonly decision: "denied" | "learning"; readonly reason: string };
  readonly result?: RunResult;
  readonly error?: string;
}

/** The EXEC_LOG entry of one phase of an exec. */
export function execEntry(
  nodeId: string,
  principal: Principal,
  record: JournalRecord,
): ConfigEntry {
  const { request, decision, result, refusal } = record;
  const command = decision?.command ?? baseName(request.command);
  const verdict = refusal?.decision ?? decision?.decision ?? "denied";
  const shown = [request.command, ...request.args].join(" ");
  const message = record.phase === "intent"
    ? `exec by ${principal.principal}: ${shown}`
    : record.phase === "refused"
    ? `exec refused for ${principal.principal}: ${shown}: ${refusal?.reason ?? ""}`
    : result
    ? `exec by ${principal.principal} exited ${result.exitCode}${
      result.timedOut ? " (timed out)" : ""
    }: ${shown}`
    : `exec by ${principal.principal} failed: ${shown}: ${record.error ?? ""}`;
  const metadata: Record<string, string> = {
    command,
    principal: principal.principal,
    phase: record.phase,
    decision: verdict,
    exec_id: record.execId,
  };
  if (refusal?.decision === "learning") metadata.suggestion = `add ${command} to exec_whitelist`;
  if (result?.stdout.truncated) metadata.stdout_truncated = "true";
  if (result?.stderr.truncated) metadata.stderr_truncated = "true";
  if (result?.cancelled) metadata.cancelled = "true";
  if (record.error) metadata.error = record.error;
  return {
    ...agentEntry({ nodeId, type: EntryType.EXEC_LOG, message: message.slice(0, 1000), metadata }),
    policyRef: `exec:${command}`,
    payload: {
      $case: "exec",
      value: {
        command: request.command,
        args: request.args,
        phase: record.phase,
        ...(result ? { exitCode: result.exitCode } : {}),
        durationMs: result?.durationMs ?? 0,
        stdoutSha256: result?.stdout.sha256 ?? "",
        stderrSha256: result?.stderr.sha256 ?? "",
        stdoutBytes: result?.stdout.bytes ?? 0,
        stderrBytes: result?.stderr.bytes ?? 0,
        stateChanging: decision?.stateChanging ?? false,
        decision: verdict,
        execId: record.execId,
        timedOut: result?.timedOut ?? false,
        truncated: (result?.stdout.truncated || result?.stderr.truncated) ?? false,
      },
    },
  };
}

/** True when one of the principal's roles is pact-platform-admin. */
export function isPlatformAdmin(principal: Principal): boolean {
  return (principal.roles ?? [principal.role]).some((r) => parseRole(r).kind === "platform-admin");
}

function baseName(command: string): string {
  return command.slice(command.lastIndexOf("/") + 1);
}
