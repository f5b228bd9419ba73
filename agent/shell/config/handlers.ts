/**
 * The agent's configuration commands on the shell server: GetDrift
 * (`pact diff`), ExtendCommitWindow (`pact extend`), Rollback (`pact
 * rollback`), Commit (`pact commit`) and Emergency (`pact emergency
 * start|end`), each a command of the drift evaluator that NodeAgent
 * carries out. A refused command answers
 * its error code (a rollback blocked by active consumers:
 * ROLLBACK_ACTIVE_CONSUMERS, exit 10 in the CLI).
 *
 * The entries a command journals name the caller as author. Emergency
 * start and end are appended by the agent with the caller's own token
 * before the state changes, so the journal decides them as it decides any
 * admin's write (RBAC, `emergency_allowed`, human principal) and refuses
 * them with its own code; when the journal cannot be reached the agent
 * decides alone and queues the entry.
 *
 * Commit builds the StateDelta of the node's drift from the host and
 * appends it as a node-scoped Commit with the caller's token: the journal
 * applies RBAC and two-person approval as for any admin write. Appended at
 * once, the agent accepts the delta's keys; held for approval, it answers
 * the pending id and accepts the keys when the approved entry arrives
 * through its journal subscription. With the journal unreachable a commit
 * cannot be recorded (reference §2.19) and the call fails.
 */
import type { handleUnaryCall } from "@grpc/grpc-js";
import type { Principal } from "../../../shared/auth/principal.ts";
import { toProtoScope } from "../../../shared/domain/scope.ts";
import { isPactError, PactError } from "../../../shared/errors/mod.ts";
import {
  type ConfigEntry,
  DeltaAction,
  EntryType,
  type StateDelta,
} from "../../../shared/proto/gen/pact/config/config.ts";
import type {
  AppendEntryRequest,
  AppendEntryResponse,
} from "../../../shared/proto/gen/pact/journal/journal.ts";
import type {
  CommitRequest,
  CommitResponse,
  DriftItemView,
  EmergencyRequest,
  EmergencyResponse,
  ExtendRequest,
  ExtendResponse,
  GetDriftResponse,
  RollbackResponse,
} from "../../../shared/proto/gen/pact/shell/shell.ts";
import { bearerToken } from "../../../journal/service/authn.ts";
import { identityOf } from "../../../journal/service/identity.ts";
import { type Step, step } from "../../drift/evaluator.ts";
import type { EvaluatorEvent } from "../../drift/evaluator_types.ts";
import { committedDelta, driftKeysOf } from "../../drift/commit_delta.ts";
import { agentEntry } from "../../drift/drift_entries.ts";
import type { CommandCaller, NodeAgent } from "../../node_agent.ts";
import type { Handlers, RpcKit } from "../rpc_kit.ts";
import { type NodeRef, requireControl, requireEmergency, requireRead } from "./access.ts";
import { driftView, emergencyView, windowView } from "./drift_view.ts";

/** Appends one entry to the journal with a caller's token. */
export type CallerJournal = (
  request: AppendEntryRequest,
  token: string,
) => Promise<AppendEntryResponse>;

/** What the handlers work on. */
export interface ConfigCommandsOptions {
  readonly node: NodeRef;
  readonly agent: NodeAgent | undefined;
  /** Undefined: no journal configured (entries only go through the agent's queue). */
  readonly callerJournal: CallerJournal | undefined;
  readonly now: () => number;
  readonly log: (line: string) => void;
}

/** GetDrift, ExtendCommitWindow, Rollback, Commit and Emergency. */
export function configHandlers(kit: RpcKit, options: ConfigCommandsOptions): Handlers {
  const { node, now } = options;
  const running = (what: string): NodeAgent => {
    if (options.agent === undefined) {
      throw new PactError(
        "UNAVAILABLE",
        `${what} on node ${node.nodeId}: the agent's drift watch is not running`,
      );
    }
    return options.agent;
  };
  let emergencyStartSequence: number | undefined;

  const emergency: handleUnaryCall<EmergencyRequest, EmergencyResponse> = (call, callback) => {
    kit.authenticate(call.metadata)
      .then(async (principal) => {
        const token = bearerToken(call.metadata) ?? "";
        const request = call.request;
        const agent = running(`emergency ${request.action}`);
        const event = emergencyEvent(principal, request);
        requireEmergency(principal, node, `emergency ${request.action}`);
        refuseOnError(step(agent.state, event, now()));
        const entry = emergencyEntry(node.nodeId, event, agent, emergencyStartSequence);
        const sequence = await journalAsCaller(options, entry, token);
        const type = entry.entryType;
        const journaled = new Map<EntryType, number>();
        if (sequence !== undefined) journaled.set(type, sequence);
        if (
          event.type === "emergency_end" && event.resolution === "commit" &&
          agent.state.drift.size > 0
        ) {
          // Ending by commit records the drift as a node delta, as pact commit does.
          const delta = await committedDelta(agent.node.host, agent.node.declared, [
            ...agent.state.drift.values(),
          ]);
          const committed = await journalAsCaller(options, {
            ...agentEntry({
              nodeId: node.nodeId,
              type: EntryType.COMMIT,
              message: `emergency end: ${agent.state.emergency?.reason ?? ""}`,
            }),
            payload: { $case: "stateDelta", value: delta },
          }, token);
          if (committed !== undefined) journaled.set(EntryType.COMMIT, committed);
        }
        const caller: CommandCaller = { author: identityOf(principal), journaled };
        const driftBefore = agent.state.drift.size;
        const result = await agent.send(event, caller);
        refuseOnError(result);
        if (type === EntryType.EMERGENCY_START) emergencyStartSequence = sequence;
        const record = agent.lastRollback;
        if (
          event.type === "emergency_end" && event.resolution === "rollback" &&
          record !== undefined && record.consumers.length > 0
        ) {
          throw consumersError(record.consumers);
        }
        return {
          emergency: emergencyView(agent.state),
          journalSequence: sequence ?? 0,
          driftItems: driftBefore,
        };
      })
      .then((response) => callback(null, response), (err) => callback(kit.fail("Emergency", err)));
  };

  const commit: handleUnaryCall<CommitRequest, CommitResponse> = (call, callback) => {
    kit.authenticate(call.metadata)
      .then(async (principal) => {
        requireControl(principal, node, "commit");
        const agent = running("commit");
        const request = call.request;
        const message = request.message.trim();
        if (message === "") {
          throw new PactError(
            "INVALID_ARGUMENT",
            'A commit needs a message: pass -m "what changed and why"',
          );
        }
        const items = [...agent.state.drift.values()];
        if (items.length === 0) {
          throw new PactError(
            "VALIDATION",
            `Cannot commit: there is no drift on node ${node.nodeId}`,
          );
        }
        if (options.callerJournal === undefined) {
          throw new PactError(
            "UNAVAILABLE",
            `Cannot commit on node ${node.nodeId}: the agent has no journal to record it in`,
          );
        }
        const delta = await committedDelta(agent.node.host, agent.node.declared, items);
        const entry: ConfigEntry = {
          ...agentEntry({
            nodeId: node.nodeId,
            type: EntryType.COMMIT,
            message,
            ...(request.ttlSeconds > 0 ? { ttlSeconds: request.ttlSeconds } : {}),
          }),
          payload: { $case: "stateDelta", value: delta },
        };
        const response = await options.callerJournal({
          entry,
          ...(request.ifVersion !== undefined ? { expectedScopeVersion: request.ifVersion } : {}),
        }, bearerToken(call.metadata) ?? "").catch((err) => {
          if (!isPactError(err, "UNAVAILABLE", "TIMEOUT")) throw err;
          throw new PactError(
            err.code,
            `Cannot commit on node ${node.nodeId}: the journal is unreachable from the agent, ` +
              `nothing was recorded and the drift stays (${err.message})`,
          );
        });
        const pending = response.pendingApprovalId !== "";
        if (!pending) {
          await agent.send(
            { type: "commit", author: principal.principal, message, keys: driftKeysOf(delta) },
            {
              author: identityOf(principal),
              journaled: new Map([[EntryType.COMMIT, response.sequence]]),
            },
          );
        }
        options.log(
          `shell: ${principal.principal} committed ${items.length} drifted key(s) ${
            pending
              ? `pending approval ${response.pendingApprovalId}`
              : `as seq:${response.sequence}`
          }`,
        );
        return {
          sequence: response.sequence,
          duplicate: response.duplicate,
          pendingApprovalId: response.pendingApprovalId,
          approvalVclusterId: response.approvalVclusterId,
          approvalExpiresAtMs: response.approvalExpiresAt?.getTime() ?? 0,
          items: deltaViews(delta),
        };
      })
      .then((response) => callback(null, response), (err) => callback(kit.fail("Commit", err)));
  };

  return {
    commit,
    getDrift: kit.unary<unknown, GetDriftResponse>("GetDrift", async (_request, principal) => {
      requireRead(principal, node, "diff");
      return await driftView(running("diff"), now());
    }),
    extendCommitWindow: kit.unary<ExtendRequest, ExtendResponse>(
      "ExtendCommitWindow",
      async (request, principal) => {
        requireControl(principal, node, "extend");
        const agent = running("extend");
        const minutes = request.additionalMinutes;
        refuseOnError(
          await agent.send({ type: "extend", minutes }, { author: identityOf(principal) }),
        );
        const window = windowView(agent.state, now());
        options.log(
          `shell: ${principal.principal} extended the commit window by ${minutes} min (${window.secondsLeft} s left)`,
        );
        return { success: true, secondsRemaining: window.secondsLeft, error: "" };
      },
    ),
    rollback: kit.unary<unknown, RollbackResponse>("Rollback", async (_request, principal) => {
      requireControl(principal, node, "rollback");
      const agent = running("rollback");
      const before = agent.lastRollback;
      refuseOnError(
        await agent.send(
          { type: "rollback", author: principal.principal },
          { author: identityOf(principal) },
        ),
      );
      const record = agent.lastRollback;
      if (record === undefined || record === before) {
        throw new PactError("INTERNAL", "The rollback did not run");
      }
      if (record.consumers.length > 0) throw consumersError(record.consumers);
      return {
        restored: record.restored.map((item) => ({
          dimension: item.dimension,
          key: item.key,
          declared: "",
          actual: "",
          detail: item.detail,
          source: item.source,
          firstSeenMs: item.firstSeenMs,
          lastSeenMs: item.lastSeenMs,
        })),
        skipped: record.skipped.map(({ item, reason }) =>
          `${item.dimension} ${item.key}: ${reason}`
        ),
      };
    }),
    emergency,
  };
}

function emergencyEvent(principal: Principal, request: EmergencyRequest): EvaluatorEvent {
  switch (request.action) {
    case "start":
      return { type: "emergency_start", admin: principal.principal, reason: request.reason };
    case "end": {
      const resolution = request.resolution || "commit";
      if (resolution !== "commit" && resolution !== "rollback") {
        throw new PactError(
          "INVALID_ARGUMENT",
          `Invalid emergency resolution ${JSON.stringify(resolution)}: use commit or rollback`,
        );
      }
      return {
        type: "emergency_end",
        admin: principal.principal,
        force: request.force,
        resolution,
      };
    }
    default:
      throw new PactError(
        "INVALID_ARGUMENT",
        `Invalid emergency action ${JSON.stringify(request.action)}: use start or end`,
      );
  }
}

function emergencyEntry(
  nodeId: string,
  event: EvaluatorEvent,
  agent: NodeAgent,
  startSequence: number | undefined,
): ConfigEntry {
  const base: ConfigEntry = {
    sequence: 0,
    timestamp: undefined,
    entryType: EntryType.EMERGENCY_START,
    scope: toProtoScope({ kind: "node", id: nodeId }),
    author: undefined,
    policyRef: "",
    emergencyReason: "",
    message: "",
    requestId: crypto.randomUUID(),
    metadata: {},
    payload: undefined,
  };
  if (event.type === "emergency_start") {
    return {
      ...base,
      message: event.reason,
      emergencyReason: event.reason,
      ttlSeconds: agent.state.settings.emergencyWindowSeconds,
    };
  }
  if (event.type !== "emergency_end") throw new Error("not an emergency event");
  const session = agent.state.emergency;
  const forced = session !== undefined && session.admin !== event.admin;
  return {
    ...base,
    entryType: EntryType.EMERGENCY_END,
    message: `emergency ended by ${event.admin}${forced ? " (forced)" : ""}: ${event.resolution}`,
    emergencyReason: session?.reason ?? "",
    metadata: {
      resolution: event.resolution,
      forced: String(forced),
      started_by: session?.admin ?? "",
    },
    ...(startSequence === undefined ? {} : { parent: startSequence }),
  };
}

/**
 * Appends `entry` with the caller's token: the journal's refusal stops the
 * command; an unreachable journal does not (undefined: the agent queues it).
 */
async function journalAsCaller(
  options: ConfigCommandsOptions,
  entry: ConfigEntry,
  token: string,
): Promise<number | undefined> {
  if (options.callerJournal === undefined) return undefined;
  try {
    return (await options.callerJournal({ entry }, token)).sequence;
  } catch (err) {
    if (isPactError(err, "UNAVAILABLE", "TIMEOUT")) {
      options.log(
        `shell: journal unreachable for ${
          EntryType[entry.entryType]
        }: the agent decides alone and queues it (${(err as Error).message})`,
      );
      return undefined;
    }
    throw err;
  }
}

/** One view per committed key, the accepted value as `actual`. */
function deltaViews(delta: StateDelta): DriftItemView[] {
  const view = (dimension: string, key: string, action: DeltaAction, actual: string) => ({
    dimension,
    key,
    declared: "",
    actual,
    detail: action === DeltaAction.REMOVE
      ? "removed"
      : action === DeltaAction.ADD
      ? "added"
      : "modified",
    source: "commit",
    firstSeenMs: 0,
    lastSeenMs: 0,
  });
  return [
    ...delta.kernel.map((k) => view("kernel", k.key, k.action, k.actualValue)),
    ...delta.files.map((f) => view("files", f.path, f.action, f.contentHash)),
    ...delta.mounts.map((m) =>
      view("mounts", m.path, m.action, m.actual ? `${m.actual.fsType}:${m.actual.source}` : "")
    ),
    ...delta.services.map((x) => view("services", x.name, x.action, x.actualState)),
    ...delta.network.map((n) => view("network", n.interface, n.action, n.detail)),
    ...delta.packages.map((p) => view("packages", p.name, p.action, p.version)),
    ...delta.gpu.map((g) => view("gpu", String(g.gpuIndex), g.action, g.detail)),
  ];
}

function refuseOnError(result: Step): void {
  if (result.error !== undefined) throw new PactError(result.error.code, result.error.message);
}

function consumersError(consumers: readonly string[]): PactError {
  return new PactError(
    "ROLLBACK_ACTIVE_CONSUMERS",
    `Rollback refused: ${consumers.length} active consumer${consumers.length === 1 ? "" : "s"} (${
      consumers.join(", ")
    }); kill them, commit, or enter emergency mode`,
  );
}
