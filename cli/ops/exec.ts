/**
 * `pact exec` operations over an agent's ShellService (reference §2.11):
 * one command on one node with its stdout and stderr streamed apart and
 * its exit code passed through, the node's exec whitelist, and the same
 * command on every node of a vCluster (fleet mode over fanout.ts, outputs
 * grouped like `dshbak -c`). Shared by the CLI and (later) the MCP server.
 */
import { PactError } from "../../shared/errors/mod.ts";
import type {
  ExecOutput,
  ExecRequest,
  ExecSummary,
  ListCommandsResponse,
} from "../../shared/proto/gen/pact/shell/shell.ts";

/** One message of the Exec stream. */
export type ExecMessage = NonNullable<ExecOutput["output"]>;

/** What the operations need from an agent (AgentClient, or a fake in tests). */
export interface ExecApi {
  exec(request: ExecRequest, signal: AbortSignal): AsyncIterable<ExecMessage>;
  listCommands(): Promise<ListCommandsResponse>;
}

/** Where streamed output goes. */
export interface ExecSink {
  stdout(bytes: Uint8Array): void;
  stderr(bytes: Uint8Array): void;
}

/** How a remote command ended. */
export interface ExecResultView {
  readonly node: string;
  readonly exit_code: number;
  readonly timed_out: boolean;
  readonly stdout_truncated: boolean;
  readonly stderr_truncated: boolean;
  readonly duration_ms: number | null;
  readonly exec_id: string | null;
  readonly decision: string | null;
  readonly state_changing: boolean;
}

/** The whitelist of one node. */
export interface CommandListView {
  readonly node: string;
  readonly mode: string;
  readonly commands: readonly {
    readonly command: string;
    readonly state_changing: boolean;
    readonly description: string;
  }[];
}

/** Most seconds `--timeout` may ask for (the agent caps at the same). */
export const EXEC_TIMEOUT_MAX_SECONDS = 3600;

/** The request for `command args`. */
export function execRequest(
  command: readonly string[],
  limits: {
    readonly timeoutSeconds?: number | undefined;
    readonly outputLimitBytes?: number | undefined;
  } = {},
): ExecRequest {
  const [name, ...args] = command;
  if (name === undefined || name === "") {
    throw new PactError(
      "INVALID_ARGUMENT",
      "No command given: pact exec <node> -- <command> [args...]",
    );
  }
  return {
    command: name,
    args,
    timeoutSeconds: limits.timeoutSeconds ?? 0,
    outputLimitBytes: limits.outputLimitBytes ?? 0,
  };
}

/** Runs the command, handing output to `sink` as it comes; the result once it ended. */
export async function runExec(
  api: ExecApi,
  node: string,
  request: ExecRequest,
  sink: ExecSink,
  signal: AbortSignal,
): Promise<ExecResultView> {
  let summary: ExecSummary | undefined;
  for await (const message of api.exec(request, signal)) {
    switch (message.$case) {
      case "stdout":
        sink.stdout(message.value);
        break;
      case "stderr":
        sink.stderr(message.value);
        break;
      case "summary":
        summary = message.value;
        break;
      case "error":
        throw new PactError("INTERNAL", `Exec on ${node} failed: ${message.value}`);
      case "exitCode":
        return resultView(node, message.value, summary);
    }
  }
  throw new PactError("INTERNAL", `The agent on ${node} ended the exec without an exit code`);
}

function resultView(
  node: string,
  exitCode: number,
  summary: ExecSummary | undefined,
): ExecResultView {
  return {
    node,
    exit_code: exitCode,
    timed_out: summary?.timedOut ?? false,
    stdout_truncated: summary?.stdoutTruncated ?? false,
    stderr_truncated: summary?.stderrTruncated ?? false,
    duration_ms: summary ? summary.durationMs : null,
    exec_id: summary?.execId || null,
    decision: summary?.decision || null,
    state_changing: summary?.stateChanging ?? false,
  };
}

/** The commands the node's agent runs, and its whitelist mode. */
export async function listCommands(api: ExecApi, node: string): Promise<CommandListView> {
  const response = await api.listCommands();
  return {
    node,
    mode: response.mode,
    commands: response.commands.map((c) => ({
      command: c.command,
      state_changing: c.stateChanging,
      description: c.description,
    })),
  };
}

/** One node's output in fleet mode: stdout and stderr as text, and how it ended. */
export interface FleetExecView {
  readonly output: string;
  readonly stderr: string;
  readonly result: ExecResultView;
}

/** Runs the command on one node, collecting its output (fleet mode). */
export async function collectExec(
  api: ExecApi,
  node: string,
  request: ExecRequest,
  signal: AbortSignal,
): Promise<FleetExecView> {
  const out = new TextDecoder();
  const err = new TextDecoder();
  let output = "";
  let stderr = "";
  const result = await runExec(api, node, request, {
    stdout: (bytes) => output += out.decode(bytes, { stream: true }),
    stderr: (bytes) => stderr += err.decode(bytes, { stream: true }),
  }, signal);
  return { output: output + out.decode(), stderr: stderr + err.decode(), result };
}

/** Lines added to the output when a command was cut short. */
export function notes(result: ExecResultView): string[] {
  const lines: string[] = [];
  if (result.timed_out) lines.push("(timed out: the agent killed the command)");
  if (result.stdout_truncated) lines.push("(stdout truncated at the output limit)");
  if (result.stderr_truncated) lines.push("(stderr truncated at the output limit)");
  if (result.exit_code !== 0) lines.push(`(exit code: ${result.exit_code})`);
  return lines;
}
