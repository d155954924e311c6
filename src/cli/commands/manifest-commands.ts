import type { Command } from "commander";
import type { CliContext } from "../cli-context.ts";
import { applyCommand, type ApplyOptions } from "../plan/apply-command.ts";
import { exportCommand, type ExportOptions } from "../plan/export-command.ts";
import { planCommand, type PlanOptions } from "../plan/plan-command.ts";
import type { CommandAction } from "../run-cli.ts";

const manifestHelp = `
The manifest is YAML or JSON, checked against schemas/manifest.v1.schema.json:
  version: 1
  providers: [{ name, auth_type, client_id, client_secret: \${env:NAME} or \${file:PATH}, ... }]
  agents: [{ name, description, allowed_providers, jwks }]`;

/** `plan`, `apply` and `export`: providers and agents as code. */
export function registerManifestCommands(program: Command, context: CliContext, run: (action: CommandAction) => () => Promise<void>): void {
  const plan = program.command("plan")
    .description("Show what apply would change: creates, updates with each field, and with --prune deletes.\n" +
      "Exit code 0: no changes; 2: changes; 1: error. Secrets are compared by keyed fingerprint, never shown.")
    .requiredOption("-f, --file <path>", "the manifest (YAML or JSON)")
    .option("--prune", "also delete providers and disable agents the manifest does not name")
    .option("--json", "print the plan as JSON: { changes, orphans, summary, plan_hash }")
    .option("--markdown", "print the plan as Markdown, ready to post on a pull request")
    .addHelpText("after", `${manifestHelp}\n\nExamples:\n  nexus plan -f nexus.yaml\n  nexus plan -f nexus.yaml --prune --markdown > plan.md`);
  plan.action(run(() => planCommand(context, plan.opts<PlanOptions>())));

  const apply = program.command("apply")
    .description("Apply a manifest: show the plan, ask (or --yes), then create, update and with --prune delete,\n" +
      "refusing any change to something changed since the plan. New agents' API keys go to stdout, once.")
    .requiredOption("-f, --file <path>", "the manifest (YAML or JSON)")
    .option("--prune", "also delete providers and disable agents the manifest does not name")
    .option("-y, --yes", "apply without asking (required without a terminal, as in CI)")
    .addHelpText("after", `${manifestHelp}\n\nExamples:\n  nexus apply -f nexus.yaml\n  nexus apply -f nexus.yaml --prune --yes > new-agent-keys.txt`);
  apply.action(run(() => applyCommand(context, apply.opts<ApplyOptions>())));

  const exported = program.command("export")
    .description("Print the live providers and agents as a manifest; client secrets become ${env:...} references,\n" +
      "and the variables to set are listed on stderr.")
    .option("--json", "print the manifest as JSON rather than YAML")
    .addHelpText("after", "\nExample:\n  nexus export > nexus.yaml && nexus plan -f nexus.yaml");
  exported.action(run(() => exportCommand(context, exported.opts<ExportOptions>())));
}
