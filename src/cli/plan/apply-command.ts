import { ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../../gen/google/rpc/error_details_pb.ts";
import type { BrokerAdmin } from "../broker-admin.ts";
import type { CliContext } from "../cli-context.ts";
import { CliError, exitCodes } from "../cli-io.ts";
import { loadManifest } from "../manifest/load-manifest.ts";
import { type ApplyResult, applyPlan } from "./apply-plan.ts";
import type { Change } from "./compute-plan.ts";
import { hasChanges, summaryText } from "./plan-lines.ts";
import { preparePlan } from "./prepare-plan.ts";
import { type RedactingOutput, redactingOutput, withRedactedErrors } from "./redaction.ts";
import { renderPlanText, shownUrl } from "./render-plan.ts";

/** Options of `nexus apply`. */
export interface ApplyOptions {
  readonly file: string;
  readonly prune?: boolean;
  readonly yes?: boolean;
}

/**
 * `nexus apply`: computes and shows the plan (on stderr), asks on a terminal
 * unless --yes (without a terminal --yes is required), checks the Broker
 * has not changed since, then applies it with a version check on every
 * update and delete, and records one manifest.applied audit event with the
 * plan's hash. Standard output carries only new agents' keys, one
 * `<name> <api_key>` line each.
 */
export async function applyCommand(context: CliContext, options: ApplyOptions): Promise<number> {
  const io = context.io;
  const resolved = await loadManifest(options.file, io);
  const out = redactingOutput(io, resolved.secrets);
  return withRedactedErrors(out.redact, async () => {
    const broker = context.broker();
    const prune = options.prune === true;
    const prepared = await preparePlan(broker, resolved, prune);
    out.stderr(renderPlanText(prepared.plan, prepared.hash, { file: options.file, brokerUrl: broker.url }, context.paint));
    if (!hasChanges(prepared.plan)) return exitCodes.ok;
    if (options.yes !== true) {
      if (!io.interactive) {
        throw new CliError("apply needs --yes when it cannot ask (no terminal, as in CI): review the plan above, then run nexus apply --yes; nothing was changed");
      }
      if (!(await io.confirm(`Apply these changes (${summaryText(prepared.plan)}) to the Broker at ${shownUrl(broker.url)}?`))) {
        out.stderr("Apply cancelled; nothing was changed.\n");
        return exitCodes.error;
      }
    }
    // The plan was shown (and perhaps pondered) a while ago: apply only the plan that was seen.
    if ((await preparePlan(broker, resolved, prune)).hash !== prepared.hash) {
      throw new CliError("the Broker changed after the plan above was computed, so it is no longer what apply would do; nothing was changed. Run nexus plan again and review it");
    }
    out.stderr(`\nApplying ${prepared.plan.changes.length} changes:\n`);
    const result = await applyPlan(prepared.plan, prepared.desired, broker, {
      done: (change) => out.stderr(`  ${doneText(change)}\n`),
      agentKey: (name, apiKey) => out.stdout(`${name} ${apiKey}\n`),
    });
    if (result.applied.length > 0) await recordApplied(broker, prepared.hash, result, out);
    if (result.applied.some((c) => c.kind === "agent" && c.action === "create")) {
      out.stderr("New agents' API keys are on standard output, one \"<name> <api_key>\" line each, shown this once: store them now.\n");
    }
    if (result.failed !== undefined) {
      out.stderr(stoppedReport(result));
      throw result.failed.error;
    }
    const n = counts(result);
    out.stderr(`Applied: ${n.created} created, ${n.updated} updated, ${n.deleted} deleted; plan ${prepared.hash} recorded in the audit log.\n`);
    return exitCodes.ok;
  });
}

/** One manifest.applied event with the counts of what was applied, also after a partial apply, so the audit log ties those changes to the plan. */
async function recordApplied(broker: BrokerAdmin, hash: string, result: ApplyResult, out: RedactingOutput): Promise<void> {
  try {
    await broker.audit.recordManifestApplied({ planHash: hash, ...counts(result) });
  } catch (error) {
    out.stderr("The changes listed above were applied, but the manifest.applied audit event could not be recorded.\n");
    throw error;
  }
}

function counts(result: ApplyResult): { created: number; updated: number; deleted: number } {
  const count = (action: Change["action"]) => result.applied.filter((c) => c.action === action).length;
  return { created: count("create"), updated: count("update"), deleted: count("delete") };
}

function doneText(change: Change): string {
  if (change.action === "delete" && change.kind === "agent") return `- disabled agent ${change.name}`;
  const marker = change.action === "create" ? "+" : change.action === "update" ? "~" : "-";
  return `${marker} ${change.action}d ${change.kind} ${change.name}`;
}

function stoppedReport(result: ApplyResult): string {
  const failed = result.failed!;
  const reason = failed.error instanceof ConnectError ? failed.error.findDetails(ErrorInfoSchema)[0]?.reason : undefined;
  const list = (changes: readonly Change[]) => changes.map((c) => `    ${c.action} ${c.kind} ${c.name}`).join("\n");
  const why = reason === "concurrent_change"
    ? `${failed.change.kind} ${failed.change.name} was changed by someone else after the plan was computed, so the plan's change to it was refused`
    : `${failed.change.action} ${failed.change.kind} ${failed.change.name} failed`;
  return `\nApply stopped: ${why}.\n` +
    `  applied (${result.applied.length}):${result.applied.length > 0 ? `\n${list(result.applied)}` : " none"}\n` +
    `  not applied (${result.notApplied.length}):\n${list(result.notApplied)}\n` +
    "Run nexus plan again to see what is left, and review it.\n";
}
