/**
 * The Exec and ListCommands RPCs of the shell server over ExecOps, and the
 * shell module that builds them from the booted node: its current vCluster
 * policy's `exec_whitelist` and role bindings, `[agent.shell] whitelist_mode`, the agent's
 * journal queue and its drift loop.
 */
import type { handleServerStreamingCall } from "@grpc/grpc-js";
import type {
  ExecOutput,
  ExecRequest,
  ListCommandsRequest,
} from "../../../shared/proto/gen/pact/shell/shell.ts";
import type { NodeScope } from "../authorize.ts";
import type { Handlers, RpcKit } from "../rpc_kit.ts";
import type { ShellModule } from "../start.ts";
import { REAL_FS } from "./decide.ts";
import { ExecOps } from "./exec_ops.ts";
import { Whitelist } from "./whitelist.ts";
import { nodePolicy } from "../../policy/node_policy.ts";

/** Exec (server stream) and ListCommands. */
export function execHandlers(kit: RpcKit, ops: ExecOps): Handlers {
  const exec: handleServerStreamingCall<ExecRequest, ExecOutput> = (call) => {
    const controller = new AbortController();
    call.on("cancelled", () => controller.abort());
    (async () => {
      const principal = await kit.authenticate(call.metadata);
      await ops.exec(principal, call.request, async (output) => {
        if (controller.signal.aborted) return;
        if (!call.write({ output })) {
          await new Promise((resolve) => call.once("drain", resolve));
        }
      }, controller.signal);
    })().then(
      () => {
        if (!controller.signal.aborted) call.end();
      },
      (err) => {
        if (!controller.signal.aborted) call.emit("error", kit.fail("Exec", err));
      },
    );
  };
  return {
    exec,
    listCommands: kit.unary<ListCommandsRequest, unknown>(
      "ListCommands",
      (_request, principal) => Promise.resolve(ops.list(principal)),
    ),
  };
}

/**
 * The exec module of the shell server. The whitelist and the role checks
 * read the node's current vCluster policy (agent/policy) on every request,
 * so a `pact group set-policy` reaches running agents without a restart.
 */
export const execModule: ShellModule = ({ node, journal, agent, log }) => {
  const { config } = node.boot;
  const policy = nodePolicy(node);
  const logIgnored = (whitelist: Whitelist) => {
    if (whitelist.ignored.length === 0) return;
    log(
      `shell: exec_whitelist entries ignored (shell escapes or not command names): ${
        whitelist.ignored.join(", ")
      }`,
    );
  };
  const whitelist = Whitelist.live(() => policy.policy?.execWhitelist ?? [], logIgnored);
  logIgnored(whitelist);
  // ExecOps hands `node` to requireAccess, which reads `policy` on each call.
  const scope: NodeScope = {
    nodeId: config.nodeId,
    vcluster: config.vcluster,
    policy: () => policy.policy,
  };
  const ops = new ExecOps({
    node: scope,
    whitelist,
    mode: config.shell.whitelistMode,
    fs: REAL_FS,
    journal,
    onStateChanging: agent
      ? (command) => void agent.send({ type: "state_changing_exec", command })
      : undefined,
    log,
  });
  return (kit) => execHandlers(kit, ops);
};
