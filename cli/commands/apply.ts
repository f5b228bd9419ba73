import { Command } from "@commander-js/extra-typings";
import { PactError } from "../../shared/errors/mod.ts";
import type { CliContext } from "../context.ts";
import type { ApplyResult } from "../ops/apply.ts";

/** `pact apply <spec.toml> [--dry-run] [-m MSG]`. */
export function applyCommand(ctx: CliContext) {
  return new Command("apply")
    .description("Apply a declarative spec: vCluster overlays and policies from a TOML file")
    .argument("<spec.toml>", "the spec file ([vcluster.<name>] sections); - reads stdin")
    .option("--dry-run", "check the file and show what would be written, write nothing")
    .option("-m, --message <text>", "journal message (default: pact apply <file name>)")
    .addHelpText(
      "after",
      "\nEach [vcluster.<name>] section becomes one vCluster-scoped commit of its\n" +
        "overlay items (sysctl, modules, mounts, files, services, network, packages,\n" +
        "base_image, supervisor_backend), merged into the vCluster's overlay, plus a\n" +
        "policy update when it has a [vcluster.<name>.policy] table (which replaces\n" +
        "the vCluster's policy as a whole). Overlay items supersede nodes' committed\n" +
        "deltas for the same keys. A file with any problem is refused as a whole,\n" +
        "one line per problem (file:line: ...), exit code 1.\n\n" +
        "Example spec:\n" +
        "  [vcluster.ml-training.sysctl]\n" +
        '  "vm.nr_hugepages" = "1024"\n\n' +
        '  [vcluster.ml-training.mounts."/local-scratch"]\n' +
        '  type = "nfs"\n' +
        '  source = "storage03:/scratch"\n\n' +
        "Examples:\n" +
        "  pact apply ml-training.toml --dry-run\n" +
        "  pact promote node042 | pact apply -\n" +
        '  pact apply ml-training.toml -m "hugepages for the new model"\n',
    )
    .action(async (file, options) => {
      const text = await readSpec(file);
      const { applySpec } = await import("../ops/apply.ts");
      const result = await applySpec(() => ctx.journal(), {
        file: file === "-" ? "<stdin>" : file,
        text,
        dryRun: options.dryRun ?? false,
        message: options.message,
      });
      await ctx.print(result, renderApply);
    });
}

async function readSpec(file: string): Promise<string> {
  if (file === "-") return await new Response(Deno.stdin.readable).text();
  try {
    return await Deno.readTextFile(file);
  } catch (err) {
    const reason = err instanceof Deno.errors.NotFound ? "file not found" : (err as Error).message;
    throw new PactError("INVALID_ARGUMENT", `Cannot read ${file}: ${reason}`);
  }
}

function renderApply(result: ApplyResult): string {
  const lines: string[] = [];
  for (const vc of result.vclusters) {
    const changes = vc.changes === 1 ? "1 change" : `${vc.changes} changes`;
    if (result.dry_run) {
      if (vc.changes > 0) lines.push(`Would apply to vcluster ${vc.vcluster} (${changes}):`);
      for (const item of vc.items) lines.push(`  ${item}`);
      if (vc.policy) {
        lines.push(`Would replace the policy of vcluster ${vc.vcluster}: ${policyText(vc.policy)}`);
      }
    } else {
      if (vc.overlay_sequence !== null) {
        lines.push(
          `Applied to vcluster ${vc.vcluster} (seq:${vc.overlay_sequence}, ${changes}). Overlay updated.`,
        );
      }
      if (vc.policy_sequence !== null) {
        lines.push(`Policy of vcluster ${vc.vcluster} replaced (seq:${vc.policy_sequence}).`);
      }
    }
  }
  if (result.dry_run) lines.push("Dry run: nothing written.");
  return `${lines.join("\n")}\n`;
}

function policyText(policy: Record<string, unknown>): string {
  const fields = Object.entries(policy).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
  return fields.length > 0 ? fields.join(", ") : "all defaults";
}
