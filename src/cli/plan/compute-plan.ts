import type { Json } from "../manifest/manifest-types.ts";
import { sameJson } from "./canonical-json.ts";
import { agentFieldsOf, providerFieldsOf } from "./desired-state.ts";
import {
  agentFields, type DesiredAgent, type DesiredProvider, type Fields, type LiveProvider, type LiveState, providerFields,
} from "./resource-state.ts";

/** A kind of resource a manifest manages. */
export type ResourceKind = "provider" | "agent";

/** One field a change sets: old -> new (no old on a create), or a client secret, by fingerprint only. */
export type FieldChange =
  | { readonly field: string; readonly old?: Json; readonly new: Json }
  | { readonly field: "client_secret"; readonly secret: "set" | "changed"; readonly fingerprint: string };

/** One change apply makes. Updates and deletes carry the version the plan read, which apply expects. */
export interface Change {
  readonly action: "create" | "update" | "delete";
  readonly kind: ResourceKind;
  readonly name: string;
  readonly id?: string;
  readonly version?: bigint;
  readonly fields: readonly FieldChange[];
}

/** What apply would do, in the order it does it. */
export interface Plan {
  readonly changes: readonly Change[];
  /** Live resources the manifest does not name, left alone without --prune. */
  readonly orphans: readonly { readonly kind: ResourceKind; readonly name: string }[];
  readonly summary: { readonly create: number; readonly update: number; readonly delete: number };
}

/** What a plan is computed from. */
export interface PlanInput {
  readonly desired: { readonly providers: readonly DesiredProvider[]; readonly agents: readonly DesiredAgent[] };
  readonly live: LiveState;
  /** Keyed fingerprints of the manifest's secret values, from FingerprintSecrets. */
  readonly fingerprints: ReadonlyMap<string, string>;
  readonly prune: boolean;
}

/**
 * Compares the manifest with the live state, deterministically: creates in
 * manifest order (providers, then agents), then updates in manifest order,
 * then, with `prune`, deletes of what the manifest does not name, sorted by
 * name. Pure: the same input always gives the same plan.
 */
export function computePlan(input: PlanInput): Plan {
  const { desired, live } = input;
  const liveProviders = new Map(live.providers.map((p) => [p.name, p]));
  const liveAgents = new Map(live.agents.map((a) => [a.name, a]));
  const creates: Change[] = [];
  const updates: Change[] = [];
  for (const p of desired.providers) {
    const current = liveProviders.get(p.name);
    const secret = secretChange(p, current, input.fingerprints);
    if (current === undefined) {
      // What differs from a bare provider of its auth type, which the auth type itself always heads.
      const fields = diff(providerFields, providerFieldsOf({ name: p.name, auth_type: String(p.fields.auth_type) }), p.fields, false);
      creates.push({ action: "create", kind: "provider", name: p.name, fields: [{ field: "auth_type", new: p.fields.auth_type }, ...fields, ...secret] });
      continue;
    }
    const fields = [...diff(providerFields, current.fields, p.fields, true), ...secret];
    if (fields.length > 0) updates.push({ action: "update", kind: "provider", name: p.name, id: current.id, version: current.version, fields });
  }
  for (const a of desired.agents) {
    const current = liveAgents.get(a.name);
    if (current === undefined) {
      creates.push({ action: "create", kind: "agent", name: a.name, fields: diff(agentFields, agentFieldsOf({ name: a.name }, null), a.fields, false) });
      continue;
    }
    const fields = diff(agentFields, current.fields, a.fields, true);
    if (fields.length > 0) updates.push({ action: "update", kind: "agent", name: a.name, id: current.id, version: current.version, fields });
  }
  const named = { provider: new Set(desired.providers.map((p) => p.name)), agent: new Set(desired.agents.map((a) => a.name)) };
  const extra = [
    ...byName(live.providers.filter((p) => !named.provider.has(p.name))).map((r) => ({ kind: "provider" as const, r })),
    ...byName(live.agents.filter((a) => !named.agent.has(a.name))).map((r) => ({ kind: "agent" as const, r })),
  ];
  const deletes: Change[] = input.prune ? extra.map(({ kind, r }) => ({ action: "delete", kind, name: r.name, id: r.id, version: r.version, fields: [] })) : [];
  return {
    changes: [...creates, ...updates, ...deletes],
    orphans: input.prune ? [] : extra.map(({ kind, r }) => ({ kind, name: r.name })),
    summary: { create: creates.length, update: updates.length, delete: deletes.length },
  };
}

/** The fields of `names` whose values differ; `withOld` keeps the old value (updates), otherwise only the new (creates). */
function diff<F extends string>(names: readonly F[], from: Fields<F>, to: Fields<F>, withOld: boolean): FieldChange[] {
  return names.filter((f) => !sameJson(from[f], to[f])).map((f) => (withOld ? { field: f, old: from[f], new: to[f] } : { field: f, new: to[f] }));
}

function secretChange(p: DesiredProvider, current: LiveProvider | undefined, fingerprints: ReadonlyMap<string, string>): FieldChange[] {
  if (p.clientSecret === undefined) return [];
  const fingerprint = fingerprints.get(p.clientSecret) ?? "";
  if (current === undefined || !current.hasClientSecret) return [{ field: "client_secret", secret: "set", fingerprint }];
  return fingerprint === current.clientSecretFingerprint && fingerprint !== "" ? [] : [{ field: "client_secret", secret: "changed", fingerprint }];
}

function byName<T extends { readonly name: string }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
