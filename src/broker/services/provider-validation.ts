import { invalidArgument } from "../../shared/errors.ts";
import { assertCredentialSchema, assertStrategyFits, defaultsFor, type PatternEngine } from "../domain/credential-schema.ts";
import { hasControlCharacters, inputLimits, inputPatterns, isName, parseScopes } from "../../shared/input-rules.ts";
import { checkOutboundUrl, type OutboundPolicy, resolveOnOrigin } from "../domain/outbound-url-policy.ts";
import { type AuthType, authTypes, type ProviderSettings } from "../domain/provider.ts";
import { assertExtraParamsAllowed } from "../oauth/authorization-url.ts";
import { parseKeepTokenFields, parseQuirks } from "../oauth/quirks.ts";

/** A provider as a caller describes it, before validation. */
export interface ProviderDraft extends ProviderSettings {
  readonly name: string;
  readonly authType: string;
  readonly clientId: string;
  /** Plaintext; empty keeps the stored secret on update. */
  readonly clientSecret: string;
}

/** A validated draft: names normalised, and for static providers the effective schema and strategy filled in. */
export type ValidDraft = ProviderDraft & { readonly authType: AuthType };

/** What {@linkcode validateDraft} needs besides the draft. */
export interface ValidationOptions {
  /** An update may leave the client secret empty to keep the stored one. */
  readonly hasStoredSecret: boolean;
  readonly allowHttpLoopback: boolean;
  /** Where credential_schema patterns must run. */
  readonly patterns: PatternEngine;
}

/**
 * Checks a draft field by field; every rejection names the field and says
 * what is expected. Network checks (discovery) come after, in the service.
 */
export function validateDraft(draft: ProviderDraft, options: ValidationOptions): ValidDraft {
  const name = draft.name.trim();
  if (name === "") throw invalidArgument("profile.name", "is required");
  if (!isName(name)) {
    throw invalidArgument("profile.name", `must be lowercase kebab-case (letters, digits and single hyphens), at most ${inputLimits.nameLength} characters, such as google or github-enterprise`);
  }
  if (!(authTypes as readonly string[]).includes(draft.authType)) {
    throw invalidArgument("profile.auth_type", `must be one of ${authTypes.join(", ")}`);
  }
  const authType = draft.authType as AuthType;
  const aliases = [...new Set(draft.aliases.map((a) => a.trim()))];
  if (aliases.length > inputLimits.aliases) throw invalidArgument("profile.aliases", `may hold at most ${inputLimits.aliases} aliases`);
  for (const alias of aliases) {
    if (!isName(alias)) throw invalidArgument("profile.aliases", `"${alias.slice(0, inputLimits.nameLength)}" is not lowercase kebab-case`);
    if (alias === name) throw invalidArgument("profile.aliases", "must not repeat the provider's name");
  }
  text("profile.description", draft.description, inputLimits.descriptionLength);
  text("profile.category", draft.category, inputLimits.categoryLength);
  const scopes = parseScopes(draft.scopes, "profile.scopes");
  const policy: OutboundPolicy = { allowLoopback: options.allowHttpLoopback };
  const apiBaseUrl = draft.apiBaseUrl === "" ? "" : checkOutboundUrl(draft.apiBaseUrl, "profile.api_base_url", policy).href;
  const userInfoEndpoint = draft.userInfoEndpoint.trim();
  checkUserInfoEndpoint(userInfoEndpoint, apiBaseUrl, policy);
  checkTemplateFields(draft.template, draft.templateValues);
  const base = { ...draft, name, authType, aliases, scopes, apiBaseUrl, userInfoEndpoint };
  return authType === "oauth2" ? validateOAuth(base, { ...options, policy }) : validateStatic(base, options.patterns);
}

/**
 * The capture's live check sends the user's key to user_info_endpoint, so it
 * must resolve onto api_base_url's origin (credential-check.ts resolves it the
 * same way at call time). Without a base, only an absolute URL makes sense.
 */
function checkUserInfoEndpoint(endpoint: string, apiBaseUrl: string, policy: OutboundPolicy): void {
  const field = "profile.user_info_endpoint";
  if (endpoint === "") return;
  if (apiBaseUrl !== "") {
    resolveOnOrigin(endpoint, apiBaseUrl, { field, policy });
  } else if (URL.canParse(endpoint)) {
    checkOutboundUrl(endpoint, field, policy);
  } else {
    throw invalidArgument(field, "is a path, so api_base_url is required");
  }
}

function validateOAuth(d: ValidDraft, options: ValidationOptions & { policy: OutboundPolicy }): ValidDraft {
  if (d.clientId.trim() === "") throw invalidArgument("profile.client_id", "is required for oauth2 providers");
  text("profile.client_id", d.clientId, inputLimits.clientIdLength);
  if (d.clientSecret === "" && !options.hasStoredSecret) throw invalidArgument("profile.client_secret", "is required for oauth2 providers");
  if (d.clientSecret.length > inputLimits.clientSecretLength) {
    throw invalidArgument("profile.client_secret", `must be at most ${inputLimits.clientSecretLength} characters`);
  }
  if (d.enableDiscovery) {
    if (d.issuer === "") throw invalidArgument("profile.issuer", "is required when enable_discovery is true");
  } else if (d.authUrl === "" || d.tokenUrl === "") {
    if (d.issuer !== "" && d.authUrl === "" && d.tokenUrl === "") {
      throw invalidArgument("profile.enable_discovery", "must be true to read the endpoints from the issuer; or give auth_url and token_url");
    }
    throw invalidArgument(d.authUrl === "" ? "profile.auth_url" : "profile.token_url", "is required unless enable_discovery is true");
  }
  if (d.issuer !== "") checkOutboundUrl(d.issuer, "profile.issuer", options.policy);
  const authUrl = d.authUrl === "" ? "" : checkOutboundUrl(d.authUrl, "profile.auth_url", options.policy).href;
  const tokenUrl = d.tokenUrl === "" ? "" : checkOutboundUrl(d.tokenUrl, "profile.token_url", options.policy).href;
  const revocationUrl = d.revocationUrl === "" ? "" : checkOutboundUrl(d.revocationUrl, "profile.revocation_url", options.policy).href;
  assertExtraParamsAllowed(d.params.authorizeParams);
  if (d.params.credentialSchema !== undefined) throw invalidArgument("profile.params.credential_schema", "is only for static providers");
  if (d.params.authStrategy !== undefined) throw invalidArgument("profile.params.auth_strategy", "is only for static providers; oauth2 always uses a bearer token");
  if (d.params.scopeSeparator !== undefined && (d.params.scopeSeparator === "" || d.params.scopeSeparator.length > 3)) {
    throw invalidArgument("profile.params.scope_separator", "must be 1 to 3 characters, such as \",\"");
  }
  const quirks = parseQuirks(d.params.quirks, "profile.params.quirks");
  const keepTokenFields = parseKeepTokenFields(d.params.keepTokenFields, "profile.params.keep_token_fields");
  return { ...d, authUrl, tokenUrl, revocationUrl, params: { ...d.params, quirks, keepTokenFields } };
}

function validateStatic(d: ValidDraft, patterns: PatternEngine): ValidDraft {
  for (const [field, value] of [["client_id", d.clientId], ["client_secret", d.clientSecret], ["issuer", d.issuer], ["auth_url", d.authUrl], ["token_url", d.tokenUrl], ["revocation_url", d.revocationUrl]] as const) {
    if (value !== "") throw invalidArgument(`profile.${field}`, "is only for oauth2 providers");
  }
  if (d.enableDiscovery) throw invalidArgument("profile.enable_discovery", "is only for oauth2 providers");
  const p = d.params;
  if (Object.keys(p.authorizeParams).length > 0 || p.tokenEndpointAuthMethod !== "" || p.scopeSeparator !== undefined || p.skipScopeOnAuthorize || p.skipScopeOnExchange || p.narrowScopesOnRefresh || !p.pkce || p.quirks.length > 0 || p.keepTokenFields.length > 0) {
    throw invalidArgument("profile.params", "OAuth settings (authorize_params, token_endpoint_auth_method, scope_separator, skip_scope_*, pkce, quirks, keep_token_fields) are only for oauth2 providers");
  }
  const defaults = defaultsFor(d.authType);
  const schema = p.credentialSchema ?? defaults.schema;
  const strategy = p.authStrategy ?? defaults.strategy;
  if (schema === undefined) throw invalidArgument("profile.params.credential_schema", `is required for ${d.authType} providers`);
  assertCredentialSchema(schema, patterns);
  if (strategy === undefined) throw invalidArgument("profile.params.auth_strategy", `is required for ${d.authType} providers: say how agents apply the credential`);
  assertStrategyFits(d.authType, strategy, schema);
  // Store what is in force, so reads show it and later default changes do not alter existing providers.
  return { ...d, params: { ...p, credentialSchema: schema, authStrategy: strategy } };
}

/**
 * The template's name and values as stored: the handler has already applied
 * the template (and refused an unknown one), so only their shape is checked.
 */
function checkTemplateFields(template: string, values: Readonly<Record<string, string>>): void {
  if (template !== "" && !isName(template)) throw invalidArgument("profile.template", "must be a template name, such as google or github-app");
  const entries = Object.entries(values);
  if (template === "" && entries.length > 0) throw invalidArgument("profile.template_values", "are only for a profile that names a template");
  if (entries.length > inputLimits.templateValues) throw invalidArgument("profile.template_values", `may hold at most ${inputLimits.templateValues} values`);
  for (const [key, value] of entries) {
    if (!inputPatterns.placeholder.test(key)) throw invalidArgument("profile.template_values", `"${key.slice(0, 32)}" is not a placeholder name`);
    text(`profile.template_values.${key}`, value, inputLimits.templateValueLength);
  }
}

function text(field: string, value: string, max: number): void {
  if (value.length > max) throw invalidArgument(field, `must be at most ${max} characters`);
  if (hasControlCharacters(value)) throw invalidArgument(field, "must not contain control characters");
}
