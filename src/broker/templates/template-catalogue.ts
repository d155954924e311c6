/**
 * The provider templates the Broker ships (providers/templates/*.json),
 * checked when the Broker starts: each file against the template schema,
 * then the rules a schema cannot say (its name is its file's, every
 * placeholder it declares is used and every one it uses is declared, OAuth
 * settings only on OAuth templates). A broken template stops the Broker.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import type { TemplatePlaceholder, TemplateProfile } from "../../shared/apply-template.ts";
import { providerTemplateSchema } from "./template-schema.ts";

/** A documented fact behind a template's setting. */
export interface TemplateNote {
  /** `quirks.<name>`, `handled.<name>`, `keep_token_fields.<path>`, or a profile field. */
  readonly about: string;
  readonly note: string;
  readonly source: string;
}

/** A template as the Broker serves it. */
export interface ProviderTemplate extends TemplateProfile {
  readonly displayName: string;
  readonly docsUrl: string;
  readonly setup: { readonly consoleUrl: string; readonly steps: readonly string[]; readonly refresh: string };
  readonly notes: readonly TemplateNote[];
}

/** The templates, by name. */
export interface TemplateCatalogue {
  /** Every template, sorted by name. */
  list(): readonly ProviderTemplate[];
  get(name: string): ProviderTemplate | undefined;
}

/** One template file as read: its file name and its parsed content. */
export interface TemplateFile {
  readonly file: string;
  readonly data: unknown;
}

type Citation = { note: string; source: string };
interface TemplateData {
  name: string;
  display_name: string;
  docs_url: string;
  placeholders?: Record<string, Omit<TemplatePlaceholder, "name">>;
  profile: JsonObject & { auth_type: string; params?: JsonObject };
  quirks?: Record<string, Citation>;
  handled?: Record<string, Citation>;
  token_fields?: Record<string, Citation>;
  notes?: TemplateNote[];
  setup: { console_url: string; steps: string[]; refresh?: string };
}

let compiled: ValidateFunction | undefined;
/** Catalogues already checked, by their files: several Brokers in one process (tests) check them once. */
const checked = new WeakMap<readonly TemplateFile[], TemplateCatalogue>();

/**
 * Checks `files` (the Broker passes templateFiles, from template-files.ts)
 * and returns the catalogue. Throws one Error listing every problem of every file.
 */
export function loadTemplateCatalogue(files: readonly TemplateFile[]): TemplateCatalogue {
  const known = checked.get(files);
  if (known !== undefined) return known;
  // Strict, so a mistake in the schema itself fails loudly; compiled once (it takes a few hundred ms).
  compiled ??= new Ajv2020({ allErrors: true, strict: true }).compile(providerTemplateSchema);
  const validate = compiled;
  const problems: string[] = [];
  const templates: ProviderTemplate[] = [];
  for (const { file, data } of files) {
    if (!validate(data)) {
      problems.push(...(validate.errors ?? []).map((e) => `${file}: ${describe(e)}`));
      continue;
    }
    const t = data as unknown as TemplateData;
    const found = checkRules(t, file.replace(/^.*\//, ""));
    if (found.length > 0) problems.push(...found.map((p) => `${file}: ${p}`));
    else templates.push(toTemplate(t));
  }
  const names = new Set<string>();
  for (const t of templates) {
    if (names.has(t.name)) problems.push(`template "${t.name}" is defined twice`);
    names.add(t.name);
  }
  if (problems.length > 0) throw new Error(`Provider templates are invalid:\n  ${problems.join("\n  ")}`);
  templates.sort((a, b) => (a.name < b.name ? -1 : 1));
  const byName = new Map(templates.map((t) => [t.name, t]));
  const catalogue: TemplateCatalogue = { list: () => templates, get: (name) => byName.get(name) };
  checked.set(files, catalogue);
  return catalogue;
}

function describe(e: ErrorObject): string {
  const at = e.instancePath === "" ? "the file" : e.instancePath;
  const extra = e.keyword === "additionalProperties" ? ` ("${String(e.params.additionalProperty)}")` : "";
  return `${at} ${e.message ?? e.keyword}${extra}`;
}

function checkRules(t: TemplateData, fileName: string): string[] {
  const problems: string[] = [];
  if (`${t.name}.json` !== fileName) problems.push(`name "${t.name}" must be the file's name (${fileName})`);
  const declared = Object.keys(t.placeholders ?? {});
  const used = new Set([...JSON.stringify({ ...t.profile, params: { ...t.profile.params, credential_schema: null } }).matchAll(/\{([a-z][a-z_]*)\}/g)].map((m) => m[1]!));
  for (const name of used) if (!declared.includes(name)) problems.push(`profile uses {${name}}, which placeholders does not declare`);
  for (const name of declared) if (!used.has(name)) problems.push(`placeholder "${name}" is never used in profile`);
  for (const [name, p] of Object.entries(t.placeholders ?? {})) {
    if (!new RegExp(p.pattern, "u").test(p.example)) problems.push(`placeholder "${name}": example does not match its pattern`);
  }
  const p = t.profile;
  const params = p.params ?? {};
  if (p.auth_type === "oauth2") {
    if (!(p.enable_discovery === true && p.issuer !== undefined) && (p.auth_url === undefined || p.token_url === undefined)) {
      problems.push("an oauth2 profile needs auth_url and token_url (or issuer with enable_discovery)");
    }
    if (params.credential_schema !== undefined || params.auth_strategy !== undefined) problems.push("credential_schema and auth_strategy are for static templates");
    if (t.setup.refresh === undefined) problems.push("setup.refresh must say what refresh needs");
  } else {
    const oauthOnly = ["issuer", "enable_discovery", "auth_url", "token_url", "revocation_url", "scopes"].filter((k) => p[k] !== undefined);
    const oauthParams = ["authorize_params", "token_endpoint_auth_method", "scope_separator", "pkce"].filter((k) => params[k] !== undefined);
    if (oauthOnly.length + oauthParams.length > 0) problems.push(`${[...oauthOnly, ...oauthParams].join(", ")} are for oauth2 templates`);
    if (t.quirks !== undefined || t.token_fields !== undefined) problems.push("quirks and token_fields are for oauth2 templates");
  }
  return problems;
}

function toTemplate(t: TemplateData): ProviderTemplate {
  const quirks = Object.keys(t.quirks ?? {});
  const kept = Object.keys(t.token_fields ?? {});
  const params: JsonObject = { ...t.profile.params };
  if (quirks.length > 0) params.quirks = quirks;
  if (kept.length > 0) params.keep_token_fields = kept;
  const profile: JsonObject = { ...t.profile };
  if (Object.keys(params).length > 0) profile.params = params;
  const cite = (prefix: string, entries: Record<string, Citation> | undefined) =>
    Object.entries(entries ?? {}).map(([name, c]) => ({ about: `${prefix}.${name}`, note: c.note, source: c.source }));
  return {
    name: t.name,
    displayName: t.display_name,
    docsUrl: t.docs_url,
    placeholders: Object.entries(t.placeholders ?? {}).map(([name, p]) => ({ name, ...p })),
    profile,
    setup: { consoleUrl: t.setup.console_url, steps: t.setup.steps, refresh: t.setup.refresh ?? "" },
    notes: [...cite("quirks", t.quirks), ...cite("handled", t.handled), ...cite("keep_token_fields", t.token_fields), ...(t.notes ?? [])],
  };
}
