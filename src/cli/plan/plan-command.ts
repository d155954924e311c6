import type { CliContext } from "../cli-context.ts";
import { CliError, exitCodes } from "../cli-io.ts";
import { loadManifest } from "../manifest/load-manifest.ts";
import { hasChanges } from "./plan-lines.ts";
import { planToJson } from "./plan-json.ts";
import { preparePlan } from "./prepare-plan.ts";
import { redactingOutput, withRedactedErrors } from "./redaction.ts";
import { renderPlanMarkdown, renderPlanText } from "./render-plan.ts";

/** Options of `nexus plan`. */
export interface PlanOptions {
  readonly file: string;
  readonly prune?: boolean;
  readonly json?: boolean;
  readonly markdown?: boolean;
}

/**
 * `nexus plan`: what apply would change, on stdout, as text, JSON or
 * Markdown. Exit 0 when nothing would change, 2 when something would
 * (orphans left alone without --prune are not changes), 1 on any error.
 */
export async function planCommand(context: CliContext, options: PlanOptions): Promise<number> {
  if (options.json === true && options.markdown === true) throw new CliError("choose one of --json and --markdown");
  const resolved = await loadManifest(options.file, context.io);
  const out = redactingOutput(context.io, resolved.secrets);
  return withRedactedErrors(out.redact, async () => {
    const broker = context.broker();
    const { plan, hash } = await preparePlan(broker, resolved, options.prune === true);
    if (options.json === true) out.stdout(`${JSON.stringify(planToJson(plan, hash), null, 2)}\n`);
    else if (options.markdown === true) out.stdout(renderPlanMarkdown(plan, hash, options.file));
    else out.stdout(renderPlanText(plan, hash, { file: options.file, brokerUrl: broker.url }, context.paint));
    return hasChanges(plan) ? exitCodes.changes : exitCodes.ok;
  });
}
