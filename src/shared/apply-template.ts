/**
 * A provider profile that names a template, made whole: the template's
 * profile with its placeholders filled from `template_values`, and every
 * field the profile gives laid over it. Profiles here are in the API's JSON
 * shape (snake_case, as REST bodies and `nexus` manifests write them), so
 * the Broker (at CreateProvider and UpdateProvider) and the `nexus` command
 * (to plan) make the same profile from the same input. Pure.
 */
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { inputLimits } from "./input-rules.ts";

/** A value a template needs from the profile. */
export interface TemplatePlaceholder {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  /** Anchored regular expression a value must match. */
  readonly pattern: string;
  readonly example: string;
}

/** What applying a template needs: its name, its profile with `{placeholder}` marks, and the placeholders. */
export interface TemplateProfile {
  readonly name: string;
  readonly profile: JsonObject;
  readonly placeholders: readonly TemplatePlaceholder[];
}

/** The profile made whole, or why it cannot be: the field at fault (`profile.template_values.tenant`) and what is wrong. */
export type TemplateResult =
  | { readonly ok: true; readonly profile: JsonObject }
  | { readonly ok: false; readonly field: string; readonly message: string };

/**
 * `profile` with `template` applied. A field the profile gives (a non-empty
 * string, list or object, or any boolean) replaces the template's; inside
 * `params`, keys are replaced one by one and `authorize_params` entries too.
 * Applying the result again gives the same result. Refused, naming the
 * field: a missing, unknown or malformed template value
 * (`profile.template_values.<name>`), and an `auth_type` that contradicts
 * the template.
 */
export function applyTemplate(profile: JsonObject, template: TemplateProfile): TemplateResult {
  const values = templateValues(profile.template_values, template);
  if (!isValues(values)) return values;
  const filled = fill(template.profile, values) as JsonObject;
  if (given(profile.auth_type) && profile.auth_type !== filled.auth_type) {
    return refused("profile.auth_type", `template "${template.name}" is for ${String(filled.auth_type)} providers; leave auth_type out or give ${String(filled.auth_type)}`);
  }
  const out: JsonObject = { ...filled };
  for (const [key, value] of Object.entries(profile)) {
    if (key === "template" || key === "template_values" || key === "params" || !given(value)) continue;
    out[key] = value;
  }
  const params = isObject(profile.params) ? profile.params : {};
  const merged: JsonObject = { ...(isObject(filled.params) ? filled.params : {}) };
  for (const [key, value] of Object.entries(params)) {
    if (!given(value)) continue;
    merged[key] = key === "authorize_params" && isObject(value) && isObject(merged[key]) ? { ...merged[key], ...value } : value;
  }
  if (Object.keys(merged).length > 0) out.params = merged;
  out.template = template.name;
  out.template_values = { ...values };
  return { ok: true, profile: out };
}

type Refusal = Extract<TemplateResult, { ok: false }>;

function refused(field: string, message: string): Refusal {
  return { ok: false, field, message };
}

function isValues(v: Record<string, string> | Refusal): v is Record<string, string> {
  return !("ok" in v && v.ok === false);
}

function templateValues(raw: JsonValue | undefined, template: TemplateProfile): Record<string, string> | Refusal {
  const given = isObject(raw) ? raw : {};
  const names = template.placeholders.map((p) => p.name);
  for (const key of Object.keys(given)) {
    if (!names.includes(key)) {
      const known = names.length === 0 ? "it has none" : `it has ${names.join(", ")}`;
      return refused(`profile.template_values.${key.slice(0, 64)}`, `is not a placeholder of template "${template.name}" (${known})`);
    }
  }
  const values: Record<string, string> = {};
  for (const p of template.placeholders) {
    const field = `profile.template_values.${p.name}`;
    const value = given[p.name];
    if (value === undefined || value === null || value === "") {
      return refused(field, `is required by template "${template.name}": ${p.description} (for example ${JSON.stringify(p.example)})`);
    }
    if (typeof value !== "string") return refused(field, "must be a string");
    if (value.length > inputLimits.templateValueLength || !new RegExp(p.pattern, "u").test(value)) {
      return refused(field, `must match ${p.pattern} (${p.title}), for example ${JSON.stringify(p.example)}`);
    }
    values[p.name] = value;
  }
  return values;
}

/** Fills `{name}` marks in strings; a credential schema is left as it is (its patterns have braces of their own). */
function fill(value: JsonValue, values: Readonly<Record<string, string>>, key = ""): JsonValue {
  if (typeof value === "string") return value.replace(/\{([a-z][a-z_]*)\}/g, (mark, name: string) => (Object.hasOwn(values, name) ? values[name]! : mark));
  if (Array.isArray(value)) return value.map((v) => fill(v, values));
  if (isObject(value) && key !== "credential_schema") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, values, k)]));
  }
  return value;
}

/** Whether a profile field counts as given: absent, null, "", [] and {} leave the template's value. */
function given(value: JsonValue | undefined): boolean {
  if (value === undefined || value === null || value === "") return false;
  if (Array.isArray(value)) return value.length > 0;
  if (isObject(value)) return Object.keys(value).length > 0;
  return true;
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
