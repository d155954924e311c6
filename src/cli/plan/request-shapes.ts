import type { MessageInitShape } from "@bufbuild/protobuf";
import type { AgentSchema } from "../../../gen/nexus/broker/v1/agent_service_pb.ts";
import type { ProviderProfileSchema } from "../../../gen/nexus/broker/v1/provider_service_pb.ts";
import type { DesiredAgent, DesiredProvider } from "./resource-state.ts";

/**
 * A manifest provider as the profile apply sends: what the manifest says
 * with its template applied (the Broker applies it again, to the same
 * result), with what it leaves out left for the Broker to default. The client secret
 * is only sent when `withSecret` (a create, or a secret that changed).
 */
export function providerProfile(p: DesiredProvider, withSecret: boolean): MessageInitShape<typeof ProviderProfileSchema> {
  const e = p.entry;
  const params = e.params ?? {};
  return {
    name: e.name, authType: e.auth_type ?? "", clientId: e.client_id ?? "", clientSecret: withSecret ? (p.clientSecret ?? "") : "",
    template: e.template ?? "", templateValues: { ...e.template_values },
    issuer: e.issuer ?? "", enableDiscovery: e.enable_discovery ?? false, authUrl: e.auth_url ?? "", tokenUrl: e.token_url ?? "",
    revocationUrl: e.revocation_url ?? "",
    scopes: [...(e.scopes ?? [])], description: e.description ?? "", category: e.category ?? "", apiBaseUrl: e.api_base_url ?? "",
    userInfoEndpoint: e.user_info_endpoint ?? "", aliases: [...(e.aliases ?? [])],
    params: {
      authorizeParams: { ...params.authorize_params },
      tokenEndpointAuthMethod: params.token_endpoint_auth_method ?? "",
      ...(params.scope_separator === undefined ? {} : { scopeSeparator: params.scope_separator }),
      skipScopeOnAuthorize: params.skip_scope_on_authorize ?? false,
      skipScopeOnExchange: params.skip_scope_on_exchange ?? false,
      ...(params.pkce === undefined ? {} : { pkce: params.pkce }),
      narrowScopesOnRefresh: params.narrow_scopes_on_refresh ?? false,
      quirks: [...(params.quirks ?? [])],
      keepTokenFields: [...(params.keep_token_fields ?? [])],
      ...(params.credential_schema === undefined ? {} : { credentialSchema: params.credential_schema }),
      ...(params.auth_strategy === undefined ? {} : { authStrategy: { type: params.auth_strategy.type, config: { ...params.auth_strategy.config } } }),
    },
  };
}

/** A manifest agent as CreateAgent and UpdateAgent take it (its JWK Set already read). */
export function agentMessage(a: DesiredAgent): MessageInitShape<typeof AgentSchema> {
  const jwks = a.fields.jwks;
  return {
    name: a.name, description: a.entry.description ?? "", allowedProviders: [...(a.entry.allowed_providers ?? [])],
    ...(jwks !== null && typeof jwks === "object" && !Array.isArray(jwks) ? { jwks } : {}),
  };
}
