import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Agent } from "../../../gen/nexus/broker/v1/agent_service_pb.ts";
import type { ProviderProfile } from "../../../gen/nexus/broker/v1/provider_service_pb.ts";
import type { BrokerAdmin } from "../broker-admin.ts";
import type { Json } from "../manifest/manifest-types.ts";
import type { LiveAgent, LiveProvider, LiveState } from "./resource-state.ts";

/** The Broker's live providers and agents; disabled agents are history, not state, and are left out. */
export async function readLiveState(broker: BrokerAdmin): Promise<LiveState> {
  const [providers, agents] = await Promise.all([broker.providers.listProviders({}), broker.agents.listAgents({})]);
  return {
    providers: providers.providers.map(liveProvider),
    agents: agents.agents.filter((a) => !a.disabled).map(liveAgent),
  };
}

/**
 * The Broker's keyed fingerprints of `secrets` (FingerprintSecrets, at most
 * 100 a call), comparable with a provider's client_secret_fingerprint.
 */
export async function fingerprintSecrets(broker: BrokerAdmin, secrets: readonly string[]): Promise<Map<string, string>> {
  const distinct = [...new Set(secrets)];
  const out = new Map<string, string>();
  for (let i = 0; i < distinct.length; i += 100) {
    const batch = distinct.slice(i, i + 100);
    const { fingerprints } = await broker.providers.fingerprintSecrets({ secrets: batch });
    batch.forEach((secret, j) => out.set(secret, fingerprints[j] ?? ""));
  }
  return out;
}

/** A provider as the API shows it, in the plan's terms: unset optional params as their defaults, as the Broker applies them. */
export function liveProvider(p: ProviderProfile): LiveProvider {
  const params = p.params;
  const strategy = params?.authStrategy;
  return {
    id: p.id, name: p.name, version: p.version, hasClientSecret: p.hasClientSecret, clientSecretFingerprint: p.clientSecretFingerprint,
    createdAt: p.createTime === undefined ? 0 : timestampMs(p.createTime),
    fields: {
      auth_type: p.authType, template: p.template, template_values: { ...p.templateValues },
      client_id: p.clientId, issuer: p.issuer, enable_discovery: p.enableDiscovery,
      auth_url: p.authUrl, token_url: p.tokenUrl, revocation_url: p.revocationUrl, scopes: [...p.scopes], description: p.description, category: p.category,
      api_base_url: p.apiBaseUrl, user_info_endpoint: p.userInfoEndpoint, aliases: [...p.aliases],
      "params.authorize_params": { ...params?.authorizeParams },
      "params.token_endpoint_auth_method": params?.tokenEndpointAuthMethod ?? "",
      "params.scope_separator": params?.scopeSeparator ?? null,
      "params.skip_scope_on_authorize": params?.skipScopeOnAuthorize ?? false,
      "params.skip_scope_on_exchange": params?.skipScopeOnExchange ?? false,
      "params.pkce": params?.pkce ?? true,
      "params.narrow_scopes_on_refresh": params?.narrowScopesOnRefresh ?? false,
      "params.quirks": [...(params?.quirks ?? [])].sort(),
      "params.keep_token_fields": [...(params?.keepTokenFields ?? [])],
      "params.credential_schema": (params?.credentialSchema as Json | undefined) ?? null,
      "params.auth_strategy": strategy === undefined ? null : { type: strategy.type, config: { ...strategy.config } },
    },
  };
}

/** An agent as the API shows it, in the plan's terms. */
export function liveAgent(a: Agent): LiveAgent {
  return {
    id: a.id, name: a.name, version: a.version, createdAt: a.createTime === undefined ? 0 : timestampMs(a.createTime),
    fields: { description: a.description, allowed_providers: [...a.allowedProviders], jwks: (a.jwks as Json | undefined) ?? null },
  };
}
