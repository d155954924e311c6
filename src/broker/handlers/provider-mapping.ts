import { create, type JsonObject, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type ProviderProfile, ProviderProfileSchema } from "../../../gen/nexus/broker/v1/provider_service_pb.ts";
import { invalidArgument } from "../../shared/errors.ts";
import { defaultProviderParams, type Provider, type ProviderParams, type TokenEndpointAuthMethod } from "../domain/provider.ts";
import type { ProviderDraft } from "../services/provider-validation.ts";

/** A provider as the API shows it: never its client secret. */
export function providerToProto(p: Provider, clientSecretFingerprint = ""): ProviderProfile {
  return create(ProviderProfileSchema, {
    ...draftToProto(providerToDraft(p)),
    id: p.id,
    clientSecret: "",
    hasClientSecret: p.clientSecretCt !== null,
    clientSecretFingerprint,
    version: p.version,
    createTime: timestampFromDate(p.createdAt),
    updateTime: timestampFromDate(p.updatedAt),
  });
}

/** A stored provider as a draft: the starting point of a PATCH. The secret stays sealed (empty keeps it). */
export function providerToDraft(p: Provider): ProviderDraft {
  return {
    name: p.name, authType: p.authType, clientId: p.clientId, clientSecret: "", issuer: p.issuer,
    enableDiscovery: p.enableDiscovery, authUrl: p.authUrl, tokenUrl: p.tokenUrl, revocationUrl: p.revocationUrl, scopes: p.scopes, params: p.params,
    description: p.description, category: p.category, apiBaseUrl: p.apiBaseUrl, userInfoEndpoint: p.userInfoEndpoint, aliases: p.aliases,
    template: p.template, templateValues: p.templateValues,
  };
}

/** The caller's profile as a draft for validation. */
export function draftFromProto(p: ProviderProfile | undefined): ProviderDraft {
  if (p === undefined) throw invalidArgument("profile", "is required");
  return {
    name: p.name.toLowerCase(), authType: p.authType.trim().toLowerCase(), clientId: p.clientId.trim(), clientSecret: p.clientSecret,
    issuer: p.issuer.trim(), enableDiscovery: p.enableDiscovery, authUrl: p.authUrl.trim(), tokenUrl: p.tokenUrl.trim(),
    revocationUrl: p.revocationUrl.trim(), scopes: p.scopes, params: paramsFromProto(p.params), description: p.description, category: p.category,
    apiBaseUrl: p.apiBaseUrl.trim(), userInfoEndpoint: p.userInfoEndpoint.trim(), aliases: p.aliases.map((a) => a.toLowerCase()),
    template: p.template.trim().toLowerCase(), templateValues: { ...p.templateValues },
  };
}

function paramsFromProto(p: ProviderProfile["params"]): ProviderParams {
  if (p === undefined) return defaultProviderParams;
  const method = p.tokenEndpointAuthMethod;
  if (method !== "" && method !== "client_secret_basic" && method !== "client_secret_post") {
    throw invalidArgument("profile.params.token_endpoint_auth_method", "must be client_secret_basic or client_secret_post");
  }
  return {
    authorizeParams: { ...p.authorizeParams },
    tokenEndpointAuthMethod: method as TokenEndpointAuthMethod | "",
    scopeSeparator: p.scopeSeparator,
    skipScopeOnAuthorize: p.skipScopeOnAuthorize,
    skipScopeOnExchange: p.skipScopeOnExchange,
    narrowScopesOnRefresh: p.narrowScopesOnRefresh,
    pkce: p.pkce ?? true,
    quirks: [...p.quirks],
    keepTokenFields: [...p.keepTokenFields],
    credentialSchema: p.credentialSchema as JsonObject | undefined as ProviderParams["credentialSchema"],
    authStrategy: p.authStrategy === undefined ? undefined : { type: p.authStrategy.type, config: { ...p.authStrategy.config } },
  };
}

function draftToProto(d: ProviderDraft): MessageInitShape<typeof ProviderProfileSchema> {
  return {
    name: d.name, authType: d.authType, clientId: d.clientId, issuer: d.issuer, enableDiscovery: d.enableDiscovery,
    authUrl: d.authUrl, tokenUrl: d.tokenUrl, revocationUrl: d.revocationUrl, scopes: [...d.scopes], description: d.description, category: d.category,
    apiBaseUrl: d.apiBaseUrl, userInfoEndpoint: d.userInfoEndpoint, aliases: [...d.aliases],
    template: d.template, templateValues: { ...d.templateValues },
    params: {
      authorizeParams: { ...d.params.authorizeParams },
      tokenEndpointAuthMethod: d.params.tokenEndpointAuthMethod,
      ...(d.params.scopeSeparator === undefined ? {} : { scopeSeparator: d.params.scopeSeparator }),
      skipScopeOnAuthorize: d.params.skipScopeOnAuthorize,
      skipScopeOnExchange: d.params.skipScopeOnExchange,
      narrowScopesOnRefresh: d.params.narrowScopesOnRefresh,
      ...(d.params.pkce ? {} : { pkce: false }),
      quirks: [...d.params.quirks],
      keepTokenFields: [...d.params.keepTokenFields],
      ...(d.params.credentialSchema === undefined ? {} : { credentialSchema: d.params.credentialSchema as JsonObject }),
      ...(d.params.authStrategy === undefined
        ? {}
        : { authStrategy: { type: d.params.authStrategy.type, config: { ...d.params.authStrategy.config } } }),
    },
  };
}

const patchable: Record<string, (d: ProviderDraft, p: ProviderDraft) => Partial<ProviderDraft>> = {
  name: (_, p) => ({ name: p.name }),
  auth_type: (_, p) => ({ authType: p.authType }),
  client_id: (_, p) => ({ clientId: p.clientId }),
  client_secret: (_, p) => ({ clientSecret: p.clientSecret }),
  issuer: (_, p) => ({ issuer: p.issuer }),
  enable_discovery: (_, p) => ({ enableDiscovery: p.enableDiscovery }),
  auth_url: (_, p) => ({ authUrl: p.authUrl }),
  token_url: (_, p) => ({ tokenUrl: p.tokenUrl }),
  revocation_url: (_, p) => ({ revocationUrl: p.revocationUrl }),
  scopes: (_, p) => ({ scopes: p.scopes }),
  params: (_, p) => ({ params: p.params }),
  description: (_, p) => ({ description: p.description }),
  category: (_, p) => ({ category: p.category }),
  api_base_url: (_, p) => ({ apiBaseUrl: p.apiBaseUrl }),
  user_info_endpoint: (_, p) => ({ userInfoEndpoint: p.userInfoEndpoint }),
  aliases: (_, p) => ({ aliases: p.aliases }),
};
const paramPaths: Record<string, (cur: ProviderParams, p: ProviderParams) => Partial<ProviderParams>> = {
  authorize_params: (_, p) => ({ authorizeParams: p.authorizeParams }),
  token_endpoint_auth_method: (_, p) => ({ tokenEndpointAuthMethod: p.tokenEndpointAuthMethod }),
  scope_separator: (_, p) => ({ scopeSeparator: p.scopeSeparator }),
  skip_scope_on_authorize: (_, p) => ({ skipScopeOnAuthorize: p.skipScopeOnAuthorize }),
  skip_scope_on_exchange: (_, p) => ({ skipScopeOnExchange: p.skipScopeOnExchange }),
  narrow_scopes_on_refresh: (_, p) => ({ narrowScopesOnRefresh: p.narrowScopesOnRefresh }),
  pkce: (_, p) => ({ pkce: p.pkce }),
  quirks: (_, p) => ({ quirks: p.quirks }),
  keep_token_fields: (_, p) => ({ keepTokenFields: p.keepTokenFields }),
  credential_schema: (_, p) => ({ credentialSchema: p.credentialSchema }),
  auth_strategy: (_, p) => ({ authStrategy: p.authStrategy }),
};

/** Applies the fields of `patch` named by `paths` (field mask, proto names) to `current`. */
export function applyPatch(current: ProviderDraft, patch: ProviderDraft, paths: readonly string[]): ProviderDraft {
  if (paths.length === 0) throw invalidArgument("update_mask", "names no field; list the fields to change, such as description");
  let next: ProviderDraft = current;
  for (const raw of paths) {
    const path = raw.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    if (path.startsWith("params.")) {
      const apply = paramPaths[path.slice("params.".length)];
      if (apply === undefined) throw invalidArgument("update_mask", `"${raw}" is not a field of params`);
      next = { ...next, params: { ...next.params, ...apply(next.params, patch.params) } };
      continue;
    }
    if (path === "template" || path === "template_values") {
      throw invalidArgument("update_mask", `"${raw}" changes with UpdateProvider (PUT /providers/{id}), which applies the template again; a PATCH changes the fields themselves`);
    }
    const apply = patchable[path];
    if (apply === undefined) throw invalidArgument("update_mask", `"${raw}" is not a field that can be changed`);
    next = { ...next, ...apply(next, patch) };
  }
  return next;
}
