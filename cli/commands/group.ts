import { Command, Option } from "@commander-js/extra-typings";
import type { CliContext } from "../context.ts";
import {
  type GroupDetail,
  type GroupSummary,
  listGroups,
  setGroupPolicy,
  type SetPolicyResult,
  showGroup,
} from "../ops/group.ts";
import { renderFields, renderTable } from "../output/table.ts";

const SET_POLICY_HELP = `
Keys are those of a [vcluster.<name>.policy] table in a pact apply spec
(regulated, two_person_approval, approval_timeout_seconds, emergency_allowed,
ai_exec_allowed, enforcement_mode, exec_whitelist, role_bindings, ...).
Values are TOML: true, 600, ["nvidia-smi", "dmesg"], "text"; a bare word is
taken as text. Keys not named keep their current value; --unset returns a
key to its default. The new policy is journaled as a PolicyUpdate entry and
reaches the vCluster's agents through their config subscription. Needs
pact-platform-admin.

Examples:
  pact group set-policy sensitive-compute --set two_person_approval=true \\
      --set approval_timeout_seconds=900 -m "regulated from today"
  pact group set-policy ml-training --set 'exec_whitelist=["nvidia-smi"]' --dry-run
  pact group set-policy ml-training --unset emergency_allowed
`;

/** `pact group list | show <name> | set-policy <name> --set k=v`. */
export function groupCommand(ctx: CliContext) {
  const group = new Command("group")
    .description("List vClusters and show or update their policies")
    .addHelpText(
      "after",
      "\nExamples:\n  pact group list\n  pact group show ml-training --json\n" +
        "  pact group set-policy ml-training --set two_person_approval=true -m why\n",
    );
  group.addCommand(
    new Command("list")
      .description("List vClusters: nodes, policy id, enforcement, approval rules")
      .action(async () => {
        await ctx.print(await listGroups(await ctx.journal()), renderList);
      }),
  );
  group.addCommand(
    new Command("show")
      .description("Show one vCluster: its nodes and effective policy (defaults filled in)")
      .argument("<name>", "the vCluster")
      .action(async (name) => {
        await ctx.print(await showGroup(await ctx.journal(), name), renderDetail);
      }),
  );
  group.addCommand(
    new Command("set-policy")
      .description("Change keys of a vCluster's policy (platform admins)")
      .argument("<name>", "the vCluster")
      .addOption(
        new Option("--set <key=value>", "set a policy key (repeatable)")
          .argParser((value: string, previous: string[] | undefined) => [
            ...(previous ?? []),
            value,
          ]),
      )
      .addOption(
        new Option("--unset <key>", "return a key to its default (repeatable)")
          .argParser((value: string, previous: string[] | undefined) => [
            ...(previous ?? []),
            value,
          ]),
      )
      .option("-m, --message <text>", "why (recorded in the journal)")
      .option("--dry-run", "check and show the change without writing it")
      .addHelpText("after", SET_POLICY_HELP)
      .action(async (name, options) => {
        const result = await setGroupPolicy(await ctx.journal(), {
          vcluster: name,
          set: options.set ?? [],
          unset: options.unset ?? [],
          message: options.message,
          dryRun: options.dryRun ?? false,
        });
        await ctx.print(result, renderSet);
      }),
  );
  for (const sub of group.commands) {
    sub.configureOutput({ writeOut: (t) => ctx.io.out(t), writeErr: (t) => ctx.io.err(t) })
      .showHelpAfterError(`(run pact group ${sub.name()} --help for usage)`)
      .exitOverride();
  }
  return group;
}

function renderList(groups: readonly GroupSummary[]): string {
  if (groups.length === 0) return "(no vClusters yet: assign nodes or pact apply a spec)\n";
  return renderTable(
    ["VCLUSTER", "NODES", "POLICY", "MODE", "REGULATED", "TWO-PERSON", "EMERGENCY"],
    groups.map((g) => [
      g.vcluster,
      String(g.nodes),
      g.policy_id,
      g.enforcement_mode,
      g.regulated ? "yes" : "no",
      g.two_person_approval ? `yes (${g.approval_timeout_seconds} s)` : "no",
      g.emergency_allowed ? "allowed" : "forbidden",
    ]),
  );
}

function renderDetail(group: GroupDetail): string {
  return `vCluster: ${group.vcluster}\n` +
    renderFields([
      ["Nodes", group.nodes.length === 0 ? "(none)" : group.nodes.join(", ")],
      ["Updated", group.updated_at ?? "never (default policy)"],
    ]) +
    "\nPolicy:\n" +
    renderFields(
      Object.entries(group.policy).map(([key, value]) => [`  ${key}`, JSON.stringify(value)]),
    );
}

function renderSet(result: SetPolicyResult): string {
  const changes = Object.entries(result.changes);
  const lines = changes.length === 0
    ? ["  (no change)"]
    : changes.map(([key, [before, after]]) =>
      `  ${key}: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`
    );
  const head = result.dry_run
    ? `Would update the policy of ${result.vcluster} (dry run, nothing written):`
    : `Updated the policy of ${result.vcluster} (seq:${result.sequence}, ${result.policy_ref}):`;
  return `${head}\n${lines.join("\n")}\n`;
}
