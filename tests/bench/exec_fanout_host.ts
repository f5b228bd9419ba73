/**
 * Bench-only host for the exec fan-out benchmark (exec_fanout.ts): one
 * process serving many simulated nodes, each with the production shell
 * server (agent/shell/server.ts) and exec module (ExecOps + execHandlers)
 * on its own 127.0.0.1 port, validating every caller's token against the
 * test journal's development issuer (TEST_SHELL_AUTH's settings). Each
 * node journals like a real agent: its own pact-service-agent token, a
 * DurableQueueSink on disk in front of a JournalConnection, EXEC_LOG
 * intent and outcome for every exec, and its shell address as a
 * BOOT_CONFIG record (journalShellAddress), so that `pact exec --vcluster`
 * finds it through ListNodes. What a real agent has besides (boot, drift
 * loop, services, the other shell modules) is left out: none of it is on
 * the exec path.
 *
 * Usage: deno run -A tests/bench/exec_fanout_host.ts --journal=HOST:PORT
 *   --nodes=node0001@vc1,node0002@vc1,... --state-dir=DIR
 * Prints `ready N` on stdout once every node listens and its address is
 * journaled; stops every server and queue on SIGTERM, then prints
 * `stopped N execs` (the execs the nodes ran).
 */
import { DurableQueueSink } from "../../agent/journal_queue.ts";
import { JournalConnection } from "../../agent/journal_connection.ts";
import { execHandlers } from "../../agent/shell/exec/exec_handlers.ts";
import { REAL_FS } from "../../agent/shell/exec/decide.ts";
import { ExecOps } from "../../agent/shell/exec/exec_ops.ts";
import { Whitelist } from "../../agent/shell/exec/whitelist.ts";
import { type ShellServer, startShellServer } from "../../agent/shell/server.ts";
import { journalShellAddress } from "../../agent/shell/shell_address.ts";
import { mintDevToken } from "../../shared/auth/dev_token.ts";
import { parseHostPort } from "../../shared/config/listen_address.ts";
import { BootRecord } from "../../shared/proto/gen/pact/config/config.ts";
import { TEST_AUTH } from "../harness/journal_process.ts";

/** One simulated node: its server, journal queue and connection. */
interface HostedNode {
  readonly server: ShellServer;
  readonly queue: DurableQueueSink;
  readonly connection: JournalConnection;
}

function flag(name: string): string {
  const arg = Deno.args.find((a) => a.startsWith(`--${name}=`));
  if (arg === undefined) throw new Error(`exec_fanout_host: --${name}= is required`);
  return arg.slice(name.length + 3);
}

/** Starts one node's shell server with the exec module and journals its address. */
async function startNode(
  nodeId: string,
  vcluster: string,
  journal: string,
  stateDir: string,
  counter: { execs: number },
): Promise<HostedNode> {
  // Logged like pact-agent logs (stderr), and counted.
  const log = (line: string) => {
    if (line.includes(": exec by ") && line.includes(" exited ")) counter.execs++;
    console.error(`${nodeId}: ${line}`);
  };
  const token = await mintDevToken({
    ...TEST_AUTH,
    principal: `agent-${nodeId}`,
    role: "pact-service-agent",
    principalType: "agent",
  });
  const connection = await JournalConnection.open([parseHostPort(journal, "--journal")], {
    token,
    identity: undefined,
  });
  if (!connection) throw new Error("exec_fanout_host: no journal connection");
  const queue = await DurableQueueSink.open({
    inner: connection,
    path: `${stateDir}/${nodeId}/journal-queue.jsonl`,
    onError: (message) => console.error(`${nodeId}: journal queue: ${message}`),
  });
  const ops = new ExecOps({
    node: { nodeId, vcluster },
    whitelist: Whitelist.of([]),
    mode: "learning",
    fs: REAL_FS,
    journal: queue,
    onStateChanging: undefined,
    log,
  });
  const server = await startShellServer({
    listen: { host: "127.0.0.1", port: 0 },
    auth: {
      issuer: TEST_AUTH.issuer,
      audience: TEST_AUTH.audience,
      hmacSecret: TEST_AUTH.secret,
      jwksUrl: "",
    },
    modules: [(kit) => execHandlers(kit, ops)],
    log: (line) => console.error(`${nodeId}: ${line}`),
  });
  let journaled = false;
  await journalShellAddress({
    nodeId,
    record: BootRecord.fromPartial({}),
    journal: queue,
    log: (line) => journaled ||= line.includes("journaled as seq:"),
  }, server.address);
  if (!journaled) throw new Error(`exec_fanout_host: ${nodeId}: shell address not journaled`);
  return { server, queue, connection };
}

async function main(): Promise<void> {
  const journal = flag("journal");
  const stateDir = flag("state-dir");
  const specs = flag("nodes").split(",").filter((n) => n !== "").map((spec) => {
    const [id, vcluster] = spec.split("@");
    if (!id || !vcluster) throw new Error(`exec_fanout_host: expected node@vcluster: ${spec}`);
    return { id, vcluster };
  });
  const counter = { execs: 0 };
  const nodes: HostedNode[] = [];
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  Deno.addSignalListener("SIGTERM", stop);
  // A few at a time: the journal takes one shell-address record per node.
  for (let i = 0; i < specs.length; i += 25) {
    nodes.push(
      ...await Promise.all(
        specs.slice(i, i + 25).map((n) => startNode(n.id, n.vcluster, journal, stateDir, counter)),
      ),
    );
  }
  console.log(`ready ${nodes.length}`);
  await stopped;
  await Promise.all(nodes.map((n) => n.server.shutdown(2_000)));
  await Promise.all(nodes.map((n) => n.queue.close()));
  for (const n of nodes) n.connection.close();
  console.log(`stopped ${counter.execs} execs`);
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    console.error(`exec_fanout_host: ${(err as Error).stack ?? err}`);
    Deno.exit(1);
  }
  Deno.exit(0);
}
