import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type ProviderProfile, ProviderProfileSchema } from "../../../gen/nexus/broker/v1/provider_service_pb.ts";
import type { Provider } from "../domain/provider.ts";

/** A provider as the API shows it: never its client secret. */
export function providerToProto(p: Provider): ProviderProfile {
  return create(ProviderProfileSchema, {
    id: p.id,
    name: p.name,
    authType: p.authType,
    clientId: p.clientId,
    hasClientSecret: p.clientSecretCt !== null,
    issuer: p.issuer,
    enableDiscovery: p.enableDiscovery,
    authUrl: p.authUrl,
    tokenUrl: p.tokenUrl,
    scopes: [...p.scopes],
    params: {
      authorizeParams: { ...p.params.authorizeParams },
      tokenEndpointAuthMethod: p.params.tokenEndpointAuthMethod,
      ...(p.params.scopeSeparator === undefined ? {} : { scopeSeparator: p.params.scopeSeparator }),
      skipScopeOnAuthorize: p.params.skipScopeOnAuthorize,
      skipScopeOnExchange: p.params.skipScopeOnExchange,
      ...(p.params.pkce ? {} : { pkce: false }),
      ...(p.params.credentialSchema === undefined ? {} : { credentialSchema: p.params.credentialSchema }),
      ...(p.params.authStrategy === undefined ? {} : { authStrategy: { type: p.params.authStrategy.type, config: { ...p.params.authStrategy.config } } }),
    },
    description: p.description,
    category: p.category,
    apiBaseUrl: p.apiBaseUrl,
    userInfoEndpoint: p.userInfoEndpoint,
    aliases: [...p.aliases],
    createTime: timestampFromDate(p.createdAt),
    updateTime: timestampFromDate(p.updatedAt),
  });
}
