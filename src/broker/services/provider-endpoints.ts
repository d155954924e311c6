import { NexusError } from "../../shared/errors.ts";
import type { Provider, TokenEndpointAuthMethod } from "../domain/provider.ts";
import { checkOutboundUrl } from "../domain/outbound-url-policy.ts";
import { type Discovery, selectTokenEndpointAuthMethod } from "../oauth/discovery.ts";

/** Where a provider's OAuth endpoints are, and how to authenticate at them. */
export interface ProviderEndpoints {
  /** The issuer responses must come from; empty when the provider has none. */
  readonly issuer: string;
  readonly authorizationEndpoint: string;
  readonly tokenEndpoint: string;
  /** Present when ID tokens can be verified. */
  readonly jwksUri: string | undefined;
  readonly revocationEndpoint: string | undefined;
  readonly userinfoEndpoint: string | undefined;
  /** RFC 9207: the provider always sends `iss` with the authorization response. */
  readonly issRequired: boolean;
  readonly authMethod: TokenEndpointAuthMethod;
}

/** Resolves a provider's endpoints. */
export interface EndpointResolver {
  resolve(provider: Provider, signal?: AbortSignal): Promise<ProviderEndpoints>;
}

/**
 * Endpoints come from the issuer's discovery document (cached by the
 * discovery client) when the provider has `enable_discovery`, else from its
 * explicit auth_url and token_url. An `issuer` set beside explicit URLs is
 * discovered too, but only for what the explicit URLs do not give (the JWKS to
 * verify ID tokens, revocation). An explicit revocation_url wins over a
 * discovered revocation endpoint.
 */
export function createEndpointResolver(discovery: Discovery, allowHttpLoopback: boolean): EndpointResolver {
  return {
    async resolve(provider, signal) {
      if (provider.authType !== "oauth2") {
        throw new NexusError("invalid_argument", `provider "${provider.name}" is not an OAuth 2.0 provider`);
      }
      const configured = provider.params.tokenEndpointAuthMethod;
      // Checked again at every use: a provider stored before a rule existed is refused before any request.
      const policy = { allowLoopback: allowHttpLoopback };
      const revocation = provider.revocationUrl === "" ? undefined : checkOutboundUrl(provider.revocationUrl, "revocation_url", policy).href;
      if (provider.enableDiscovery) {
        const doc = await discovery.discover(provider.issuer, signal);
        const method = configured === "" ? selectTokenEndpointAuthMethod(doc.tokenEndpointAuthMethodsSupported) : configured;
        if (method === undefined) {
          throw new NexusError("invalid_argument", "the provider supports neither client_secret_basic nor client_secret_post at its token endpoint", {
            field: "params.token_endpoint_auth_method",
          });
        }
        return {
          issuer: doc.issuer,
          authorizationEndpoint: doc.authorizationEndpoint,
          tokenEndpoint: doc.tokenEndpoint,
          jwksUri: doc.jwksUri,
          revocationEndpoint: revocation ?? doc.revocationEndpoint,
          userinfoEndpoint: doc.userinfoEndpoint,
          issRequired: doc.authorizationResponseIssParameterSupported,
          authMethod: method,
        };
      }
      const base = {
        authorizationEndpoint: checkOutboundUrl(provider.authUrl, "auth_url", policy).href,
        tokenEndpoint: checkOutboundUrl(provider.tokenUrl, "token_url", policy).href,
        authMethod: configured === "" ? ("client_secret_basic" as const) : configured,
      };
      if (provider.issuer === "") {
        return { ...base, issuer: "", jwksUri: undefined, revocationEndpoint: revocation, userinfoEndpoint: undefined, issRequired: false };
      }
      const doc = await discovery.discover(provider.issuer, signal);
      return {
        ...base,
        issuer: doc.issuer,
        jwksUri: doc.jwksUri,
        revocationEndpoint: revocation ?? doc.revocationEndpoint,
        userinfoEndpoint: doc.userinfoEndpoint,
        issRequired: doc.authorizationResponseIssParameterSupported,
      };
    },
  };
}
