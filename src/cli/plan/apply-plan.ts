import type { BrokerAdmin } from "../broker-admin.ts";
import type { Change, Plan } from "./compute-plan.ts";
import { agentMessage, providerProfile } from "./request-shapes.ts";
import type { DesiredAgent, DesiredProvider } from "./resource-state.ts";

/** What apply reports as it goes. */
export interface ApplyProgress {
  /** A change went through. */
  done(change: Change): void;
  /** A new agent's API key, the one time it exists outside the Broker. */
  agentKey(name: string, apiKey: string): void;
}

/** How far apply got: every change up to the first failure, which stops it. */
export interface ApplyResult {
  readonly applied: readonly Change[];
  readonly failed?: { readonly change: Change; readonly error: unknown };
  readonly notApplied: readonly Change[];
}

/**
 * Applies a plan's changes in its order, one at a time. Each update and
 * delete carries the version the plan read as expected_version, so the
 * Broker refuses it (concurrent_change) when someone changed the resource
 * after the plan was computed. The first failure stops everything after it.
 */
export async function applyPlan(
  plan: Plan,
  desired: { readonly providers: readonly DesiredProvider[]; readonly agents: readonly DesiredAgent[] },
  broker: BrokerAdmin,
  progress: ApplyProgress,
): Promise<ApplyResult> {
  const providers = new Map(desired.providers.map((p) => [p.name, p]));
  const agents = new Map(desired.agents.map((a) => [a.name, a]));
  const applied: Change[] = [];
  for (const [i, change] of plan.changes.entries()) {
    try {
      if (change.kind === "provider") await applyProviderChange(change, providers.get(change.name), broker);
      else await applyAgentChange(change, agents.get(change.name), broker, progress);
    } catch (error) {
      return { applied, failed: { change, error }, notApplied: plan.changes.slice(i) };
    }
    applied.push(change);
    progress.done(change);
  }
  return { applied, notApplied: [] };
}

async function applyProviderChange(change: Change, desired: DesiredProvider | undefined, broker: BrokerAdmin): Promise<void> {
  const expectedVersion = change.version ?? 0n;
  if (change.action === "delete") {
    await broker.providers.deleteProvider({ id: change.id ?? "", expectedVersion });
    return;
  }
  if (desired === undefined) throw new Error(`provider ${change.name} is not in the manifest`);
  if (change.action === "create") {
    await broker.providers.createProvider({ profile: providerProfile(desired, true) });
    return;
  }
  const paths = change.fields.map((f) => f.field);
  const profile = providerProfile(desired, paths.includes("client_secret"));
  if (paths.includes("template") || paths.includes("template_values")) {
    // A PATCH cannot change a template (the Broker would not apply it again): the whole profile goes, as a PUT.
    await broker.providers.updateProvider({ id: change.id ?? "", profile, expectedVersion });
    return;
  }
  await broker.providers.patchProvider({ id: change.id ?? "", profile, updateMask: { paths }, expectedVersion });
}

async function applyAgentChange(change: Change, desired: DesiredAgent | undefined, broker: BrokerAdmin, progress: ApplyProgress): Promise<void> {
  const expectedVersion = change.version ?? 0n;
  if (change.action === "delete") {
    await broker.agents.disableAgent({ id: change.id ?? "", expectedVersion });
    return;
  }
  if (desired === undefined) throw new Error(`agent ${change.name} is not in the manifest`);
  if (change.action === "create") {
    const { apiKey } = await broker.agents.createAgent({ agent: agentMessage(desired) });
    progress.agentKey(desired.name, apiKey);
    return;
  }
  await broker.agents.updateAgent({
    id: change.id ?? "", agent: agentMessage(desired), updateMask: { paths: change.fields.map((f) => f.field) }, expectedVersion,
  });
}
