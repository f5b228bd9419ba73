import { Command } from "@commander-js/extra-typings";
import { PactError } from "../../shared/errors/mod.ts";
import type { CliContext } from "../context.ts";
import {
  assignNode,
  type AssignResult,
  decommissionNode,
  type DecommissionResult,
  type EnrollmentApi,
  type EnrollResult,
  importNodes,
  type ImportResult,
  inspectNode,
  listNodes,
  moveNode,
  type NodeEnrollmentView,
  registerNode,
  unassignNode,
} from "../ops/node.ts";
import { parseImportFile } from "../ops/node_import.ts";
import { renderFields, renderTable } from "../output/table.ts";

const ENROLL_HELP = `
The node is registered with the hardware identity its agent will present
when it boots: a MAC address, an SMBIOS UUID (/sys/class/dmi/id/product_uuid)
or a TPM endorsement-key SHA-256. The agent then sends a CSR; the journal
signs it only when the presented hardware matches this registration, and
only once (a second enrollment of an active node is refused). Needs
pact-platform-admin.

Examples:
  pact enroll node042 --hardware-id 52:54:00:12:34:56
  pact enroll node043 --hardware-id 4c4c4544-0042-3510-8052-b4c04f564433 \\
      --bmc-serial SN8842 --vcluster ml-training
`;

const IMPORT_HELP = `
The file is CSV with a header line. Columns: node_id and hardware_id
(required), bmc_serial and vcluster (optional), in any order. Blank lines
and lines starting with # are skipped; values may not contain commas.
Every problem is reported with its line number and nothing is registered
until the whole file is valid. Then each node is registered on its own:
one failure (e.g. a hardware id already registered) does not stop the
others, and the exit code is 1 when any failed.

Example file:
  node_id,hardware_id,bmc_serial,vcluster
  node001,52:54:00:00:00:01,SN001,ml-training
  node002,4c4c4544-0042-3510-8052-b4c04f564433,,
`;

/** Runs `body` with an EnrollmentService client; fails with exit 2 without a token. */
async function withEnrollment<T>(
  ctx: CliContext,
  body: (api: EnrollmentApi) => Promise<T>,
): Promise<T> {
  const settings = await ctx.settings();
  if (!settings.token) {
    throw new PactError(
      "UNAUTHENTICATED",
      "Not authenticated: run `pact login`, set PACT_TOKEN, or pass --token",
    );
  }
  const { EnrollmentClient } = await import("../client/enrollment_client.ts");
  const client = new EnrollmentClient({
    endpoint: settings.endpoint,
    token: settings.token,
    timeoutSeconds: settings.timeoutSeconds,
  });
  try {
    return await body(client);
  } finally {
    client.close();
  }
}

/**
 * `--vcluster` is also a global option, which commander hands to the root
 * command when it comes after the subcommand: read it from the merged
 * settings when the subcommand did not get it.
 */
async function vclusterOf(ctx: CliContext, local: string | undefined) {
  return local ?? (await ctx.settings()).vcluster;
}

/** `pact enroll <node> --hardware-id <id>`: pre-register a node. */
export function enrollCommand(ctx: CliContext) {
  return new Command("enroll")
    .description("Register a node and the hardware identity it will enroll with")
    .argument("<node>", "the node id, e.g. node042")
    .requiredOption("--hardware-id <id>", "MAC address, SMBIOS UUID or TPM EK SHA-256")
    .option("--bmc-serial <serial>", "BMC/board serial the agent must also present")
    .option("--vcluster <name>", "assign the node to this vCluster (default: maintenance mode)")
    .addHelpText("after", ENROLL_HELP)
    .action(async (node, options) => {
      const vcluster = await vclusterOf(ctx, options.vcluster);
      const result = await withEnrollment(ctx, (api) =>
        registerNode(api, {
          nodeId: node,
          hardwareId: options.hardwareId,
          ...(options.bmcSerial ? { bmcSerial: options.bmcSerial } : {}),
          ...(vcluster ? { vcluster } : {}),
        }));
      await ctx.print(result, renderEnroll);
    });
}

/** `pact node list|inspect|assign|unassign|move|decommission|import`. */
export function nodeCommand(ctx: CliContext) {
  const node = new Command("node")
    .description("The node registry: enrollment state, vCluster assignment, certificates")
    .addHelpText(
      "after",
      "\nStates: registered -> active (enrolled) -> inactive (heartbeat lost); revoked is final.\n" +
        "\nExamples:\n  pact node list --state active\n  pact node inspect node042 --json\n" +
        "  pact node move node042 --to-vcluster ml-training\n" +
        "  pact node decommission node042\n  pact node import rack12.csv\n",
    );
  node.addCommand(
    new Command("list")
      .description("List registered nodes")
      .option("--state <state>", "registered, active, inactive or revoked")
      .option("--vcluster <name>", "only nodes of this vCluster")
      .option("--unassigned", "only nodes in no vCluster (maintenance mode)")
      .action(async (options) => {
        const vcluster = await vclusterOf(ctx, options.vcluster);
        const nodes = await withEnrollment(ctx, (api) => listNodes(api, { ...options, vcluster }));
        await ctx.print(nodes, renderList);
      }),
  );
  node.addCommand(
    new Command("inspect")
      .description("Show a node's registration: hardware, vCluster, certificate, last seen")
      .argument("<node>", "the node id")
      .action(async (id) => {
        await ctx.print(await withEnrollment(ctx, (api) => inspectNode(api, id)), renderInspect);
      }),
  );
  node.addCommand(
    new Command("assign")
      .description("Assign a node to a vCluster (platform admins)")
      .argument("<node>", "the node id")
      .option("--vcluster <name>", "the vCluster (required)")
      .action(async (id, options) => {
        const vcluster = await vclusterOf(ctx, options.vcluster);
        if (!vcluster) {
          throw new PactError("INVALID_ARGUMENT", "pact node assign needs --vcluster <name>");
        }
        const done = await withEnrollment(ctx, (api) => assignNode(api, id, vcluster));
        await ctx.print(done, renderAssign);
      }),
  );
  node.addCommand(
    new Command("unassign")
      .description("Take a node out of its vCluster: maintenance mode (platform admins)")
      .argument("<node>", "the node id")
      .action(async (id) => {
        await ctx.print(await withEnrollment(ctx, (api) => unassignNode(api, id)), renderAssign);
      }),
  );
  node.addCommand(
    new Command("move")
      .description("Move a node to another vCluster in one journal entry (platform admins)")
      .argument("<node>", "the node id")
      .requiredOption("--to-vcluster <name>", "the target vCluster")
      .action(async (id, options) => {
        const done = await withEnrollment(ctx, (api) => moveNode(api, id, options.toVcluster));
        await ctx.print(done, renderAssign);
      }),
  );
  node.addCommand(
    new Command("decommission")
      .description("Revoke a node and its certificate; it returns only by a new registration")
      .argument("<node>", "the node id")
      .option("--force", "also when the node has active shell or exec sessions")
      .action(async (id, options) => {
        const done = await withEnrollment(
          ctx,
          (api) => decommissionNode(api, id, options.force ?? false),
        );
        await ctx.print(done, renderDecommission);
      }),
  );
  node.addCommand(
    new Command("import")
      .description("Register many nodes from a CSV file (platform admins)")
      .argument("<file>", "CSV file: node_id,hardware_id[,bmc_serial][,vcluster]")
      .addHelpText("after", IMPORT_HELP)
      .action(async (file) => {
        let text: string;
        try {
          text = await Deno.readTextFile(file);
        } catch (err) {
          throw new PactError(
            "INVALID_ARGUMENT",
            `Cannot read ${file}: ${
              err instanceof Deno.errors.NotFound ? "file not found" : (err as Error).message
            }`,
          );
        }
        const rows = parseImportFile(text, file);
        const result = await withEnrollment(ctx, (api) => importNodes(api, rows));
        await ctx.print(result, renderImport);
        if (result.failed > 0) ctx.setExitCode(1);
      }),
  );
  for (const sub of node.commands) {
    sub.configureOutput({ writeOut: (t) => ctx.io.out(t), writeErr: (t) => ctx.io.err(t) })
      .showHelpAfterError(`(run pact node ${sub.name()} --help for usage)`)
      .exitOverride();
  }
  return node;
}

function renderEnroll(result: EnrollResult): string {
  return `Registered ${result.node_id} (seq:${result.sequence}) in ${
    result.vcluster ? `vCluster ${result.vcluster}` : "maintenance mode (no vCluster)"
  }; it becomes active when its agent enrolls\n`;
}

function renderList(nodes: readonly NodeEnrollmentView[]): string {
  if (nodes.length === 0) return "(no registered nodes: pact enroll <node> --hardware-id <id>)\n";
  return renderTable(
    ["NODE", "STATE", "VCLUSTER", "HARDWARE", "CERT EXPIRES", "LAST SEEN"],
    nodes.map((n) => [
      n.node_id,
      n.state,
      n.vcluster || "-",
      Object.values(n.hardware)[0] ?? "-",
      n.cert_expires_at ?? "-",
      n.last_seen ?? "-",
    ]),
  );
}

function renderInspect(n: NodeEnrollmentView): string {
  return `Node: ${n.node_id}\n` + renderFields([
    ["Domain", n.domain_id],
    ["State", n.state],
    ["vCluster", n.vcluster || "(none: maintenance mode)"],
    ...Object.entries(n.hardware).map(([k, v]) => [`Hardware ${k}`, v] as const),
    ["Certificate serial", n.cert_serial || "(none yet)"],
    ["Certificate expires", n.cert_expires_at ?? "-"],
    ["Last seen", n.last_seen ?? "-"],
    ["Registered", `${n.enrolled_at ?? "-"} by ${n.enrolled_by || "-"}`],
    ["Active sessions", String(n.active_sessions)],
  ]);
}

function renderAssign(r: AssignResult): string {
  if (r.to_vcluster === "") {
    return `Unassigned ${r.node_id} (seq:${r.sequence}): maintenance mode\n`;
  }
  return r.from_vcluster
    ? `Moved ${r.node_id} from ${r.from_vcluster} to ${r.to_vcluster} (seq:${r.sequence})\n`
    : `Assigned ${r.node_id} to ${r.to_vcluster} (seq:${r.sequence})\n`;
}

function renderDecommission(r: DecommissionResult): string {
  return `Decommissioned ${r.node_id}: ${r.state}${
    r.revoked_serial ? `, certificate ${r.revoked_serial} revoked` : " (it had no certificate)"
  }\n`;
}

function renderImport(r: ImportResult): string {
  const lines = r.results.map((x) =>
    x.ok ? `  ${x.node_id}: ${x.state}` : `  ${x.node_id}: FAILED: ${x.error}`
  );
  return `Imported ${r.succeeded} node${r.succeeded === 1 ? "" : "s"}, ${r.failed} failed\n${
    lines.join("\n")
  }\n`;
}
