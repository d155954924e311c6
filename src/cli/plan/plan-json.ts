import { canonicalJson } from "./canonical-json.ts";
import type { Change, FieldChange, Plan } from "./compute-plan.ts";

/** A field change as `--json` shows it: never a secret, nor its fingerprint. */
export type FieldChangeJson = { field: string; old?: unknown; new: unknown } | { field: "client_secret"; secret: "set" | "changed" };

/** A change as `--json` shows it; versions as decimal strings. */
export interface ChangeJson {
  action: Change["action"];
  kind: Change["kind"];
  name: string;
  id?: string;
  version?: string;
  fields: FieldChangeJson[];
}

/** The `--json` output of plan: a stable shape, keys always in this order. */
export interface PlanJson {
  changes: ChangeJson[];
  orphans: { kind: Change["kind"]; name: string }[];
  summary: { create: number; update: number; delete: number };
  plan_hash: string;
}

/** The plan as the `--json` object. */
export function planToJson(plan: Plan, hash: string): PlanJson {
  return {
    changes: plan.changes.map((c) => changeToJson(c, false)),
    orphans: plan.orphans.map((o) => ({ kind: o.kind, name: o.name })),
    summary: { create: plan.summary.create, update: plan.summary.update, delete: plan.summary.delete },
    plan_hash: hash,
  };
}

/**
 * SHA-256 (hex) of the canonical JSON of the plan's changes, each secret
 * change with the new secret's keyed fingerprint (never the secret), so a
 * new secret value makes a new hash. Ids and versions are in it too: the
 * hash names exactly what was reviewed, and apply records it.
 */
export async function planHash(plan: Plan): Promise<string> {
  const text = canonicalJson(plan.changes.map((c) => changeToJson(c, true)));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function changeToJson(c: Change, withFingerprints: boolean): ChangeJson {
  return {
    action: c.action, kind: c.kind, name: c.name,
    ...(c.id === undefined ? {} : { id: c.id }),
    ...(c.version === undefined ? {} : { version: c.version.toString() }),
    fields: c.fields.map((f) => fieldToJson(f, withFingerprints)),
  };
}

function fieldToJson(f: FieldChange, withFingerprint: boolean): FieldChangeJson {
  if ("secret" in f) return { field: f.field, secret: f.secret, ...(withFingerprint ? { fingerprint: f.fingerprint } : {}) };
  return "old" in f ? { field: f.field, old: f.old, new: f.new } : { field: f.field, new: f.new };
}
