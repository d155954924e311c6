import type { Json, ManifestAgent, ManifestProvider, ResolvedManifest } from "../manifest/manifest-types.ts";
import { staticDefaults } from "./broker-defaults.ts";
import type { AgentField, DesiredAgent, DesiredProvider, Fields, ProviderField } from "./resource-state.ts";

/** The manifest's providers and agents as comparable fields, in manifest order. */
export function desiredState(resolved: ResolvedManifest): { providers: DesiredProvider[]; agents: DesiredAgent[] } {
  return {
    providers: resolved.providers.map(({ entry, clientSecret }) => ({
      name: entry.name, fields: providerFieldsOf(entry), entry, ...(clientSecret === undefined ? {} : { clientSecret }),
    })),
    agents: resolved.agents.map(({ entry, jwks }) => ({ name: entry.name, entry, fields: agentFieldsOf(entry, jwks) })),
  };
}

/**
 * A manifest provider (its template already applied, see
 * expand-templates.ts) as the Broker would store it: what it leaves out
 * takes the Broker's default, and values are normalised as the Broker
 * normalises them (trimmed, URLs in their canonical form, lists without
 * repeats), so an applied manifest plans "no changes".
 */
export function providerFieldsOf(p: ManifestProvider): Fields<ProviderField> {
  const params = p.params ?? {};
  const authType = p.auth_type ?? "";
  const isStatic = authType !== "oauth2";
  const defaults = isStatic ? staticDefaults(authType) : { schema: null, strategy: null };
  const strategy = params.auth_strategy === undefined ? defaults.strategy : { type: params.auth_strategy.type, config: { ...params.auth_strategy.config } };
  return {
    auth_type: authType,
    template: (p.template ?? "").trim(),
    template_values: { ...p.template_values },
    client_id: (p.client_id ?? "").trim(),
    issuer: (p.issuer ?? "").trim(),
    enable_discovery: p.enable_discovery ?? false,
    auth_url: canonicalUrl(p.auth_url),
    token_url: canonicalUrl(p.token_url),
    revocation_url: canonicalUrl(p.revocation_url),
    scopes: unique(p.scopes ?? []),
    description: p.description ?? "",
    category: p.category ?? "",
    api_base_url: canonicalUrl(p.api_base_url),
    user_info_endpoint: (p.user_info_endpoint ?? "").trim(),
    aliases: unique((p.aliases ?? []).map((a) => a.trim())),
    "params.authorize_params": { ...params.authorize_params },
    "params.token_endpoint_auth_method": params.token_endpoint_auth_method ?? "",
    "params.scope_separator": params.scope_separator ?? null,
    "params.skip_scope_on_authorize": params.skip_scope_on_authorize ?? false,
    "params.skip_scope_on_exchange": params.skip_scope_on_exchange ?? false,
    "params.pkce": params.pkce ?? true,
    "params.narrow_scopes_on_refresh": params.narrow_scopes_on_refresh ?? false,
    "params.quirks": unique(params.quirks ?? []).sort(),
    "params.keep_token_fields": unique(params.keep_token_fields ?? []),
    "params.credential_schema": params.credential_schema ?? defaults.schema,
    "params.auth_strategy": strategy,
  };
}

/** A manifest agent as the Broker would store it; an empty JWK Set is none. */
export function agentFieldsOf(a: ManifestAgent, jwks: Json): Fields<AgentField> {
  const empty = jwks === null || (typeof jwks === "object" && !Array.isArray(jwks) && Object.keys(jwks).length === 0);
  return {
    description: a.description ?? "",
    allowed_providers: unique((a.allowed_providers ?? []).map((n) => n.trim().toLowerCase())),
    jwks: empty ? null : jwks,
  };
}

/** The Broker keeps auth, token and API base URLs as the URL parser writes them (`https://x.example` is `https://x.example/`). */
function canonicalUrl(value: string | undefined): string {
  const trimmed = (value ?? "").trim();
  return trimmed !== "" && URL.canParse(trimmed) ? new URL(trimmed).href : trimmed;
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}
