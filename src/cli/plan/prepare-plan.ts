import type { BrokerAdmin } from "../broker-admin.ts";
import type { ResolvedManifest } from "../manifest/manifest-types.ts";
import { computePlan, type Plan } from "./compute-plan.ts";
import { desiredState } from "./desired-state.ts";
import { expandTemplates } from "./expand-templates.ts";
import { fingerprintSecrets, readLiveState } from "./live-state.ts";
import { planHash } from "./plan-json.ts";
import type { DesiredAgent, DesiredProvider } from "./resource-state.ts";

/** A computed plan, its hash, and the desired state apply builds its requests from. */
export interface PreparedPlan {
  readonly plan: Plan;
  readonly hash: string;
  readonly desired: { readonly providers: readonly DesiredProvider[]; readonly agents: readonly DesiredAgent[] };
}

/**
 * Reads the live state, the keyed fingerprints of the manifest's secrets and,
 * when a provider names one, the templates from the Broker (reads only), and
 * computes the plan and its hash.
 */
export async function preparePlan(broker: BrokerAdmin, resolved: ResolvedManifest, prune: boolean): Promise<PreparedPlan> {
  const desired = desiredState(await expandTemplates(broker, resolved));
  const [live, fingerprints] = await Promise.all([readLiveState(broker), fingerprintSecrets(broker, resolved.secrets)]);
  const plan = computePlan({ desired, live, fingerprints, prune });
  return { plan, hash: await planHash(plan), desired };
}
