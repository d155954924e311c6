/**
 * Providers: the third-party services connections are made to. Pure types and
 * rules, no I/O.
 */
import { NexusError } from "../../shared/errors.ts";

/** How a provider authenticates users. */
export const authTypes = ["oauth2", "api_key", "basic_auth", "header", "query_param", "hmac_payload", "aws_sigv4"] as const;
export type AuthType = (typeof authTypes)[number];

/**
 * The refusal to change a provider's auth type once connections use it: their
 * stored credentials are of the old type (an OAuth token served under an
 * API-key strategy, say), so the change would break or mislabel every one.
 */
export function authTypeImmutable(from: AuthType, to: string): NexusError {
  return new NexusError(
    "auth_type_immutable",
    `auth_type cannot change from ${from} to ${to} once the provider has connections (of any status): register a new provider with auth_type ${to} instead, and connect users to it`,
    { field: "profile.auth_type" },
  );
}

/** Static (non-OAuth) auth types: the user enters a credential on a capture page. */
export function isStaticAuthType(t: AuthType): boolean {
  return t !== "oauth2";
}

/** Client authentication methods at the token endpoint. */
export type TokenEndpointAuthMethod = "client_secret_basic" | "client_secret_post";

/** How agents apply a credential (see the strategy table of the API). */
export interface Strategy {
  readonly type: string;
  readonly config: Readonly<Record<string, string>>;
}

/** A JSON value as stored in JSONB. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Provider quirks and static-credential settings (the `params` of the API). */
export interface ProviderParams {
  readonly authorizeParams: Readonly<Record<string, string>>;
  /** Empty: choose from discovery, else client_secret_basic. */
  readonly tokenEndpointAuthMethod: TokenEndpointAuthMethod | "";
  readonly scopeSeparator: string | undefined;
  readonly skipScopeOnAuthorize: boolean;
  readonly skipScopeOnExchange: boolean;
  /** The provider narrows an access token's scopes on a refresh that asks for fewer (sessions use it). */
  readonly narrowScopesOnRefresh: boolean;
  readonly pkce: boolean;
  /** Names of provider quirks (`params.quirks`), from the closed list in oauth/quirks.ts, checked at registration. */
  readonly quirks: readonly string[];
  /** Token-response fields (names or dotted paths) exposed in the credential (`params.keep_token_fields`). */
  readonly keepTokenFields: readonly string[];
  readonly credentialSchema: JsonObject | undefined;
  readonly authStrategy: Strategy | undefined;
}

/** What a provider is configured with, besides its identity and client credentials: the same whether drafted, written or stored. */
export interface ProviderSettings {
  readonly issuer: string;
  readonly enableDiscovery: boolean;
  readonly authUrl: string;
  readonly tokenUrl: string;
  /** RFC 7009 endpoint when not discovered; empty: none (or the discovered one). */
  readonly revocationUrl: string;
  readonly scopes: readonly string[];
  readonly params: ProviderParams;
  readonly description: string;
  readonly category: string;
  readonly apiBaseUrl: string;
  readonly userInfoEndpoint: string;
  readonly aliases: readonly string[];
  /** The provider template it was registered from; empty when none. */
  readonly template: string;
  /** The template's placeholder values (a tenant, a shop: never secrets). */
  readonly templateValues: Readonly<Record<string, string>>;
}

/** A provider as stored. Its client secret stays sealed until a token request needs it. */
export interface Provider extends ProviderSettings {
  readonly id: string;
  readonly name: string;
  readonly authType: AuthType;
  readonly clientId: string;
  /** Vault ciphertext of the client secret; null when none is stored. */
  readonly clientSecretCt: string | null;
  readonly keyId: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly deletedAt: Date | null;
  readonly version: bigint;
}

/** Default params: PKCE on, space-separated scopes, no extras. */
export const defaultProviderParams: ProviderParams = {
  authorizeParams: {},
  tokenEndpointAuthMethod: "",
  scopeSeparator: undefined,
  skipScopeOnAuthorize: false,
  skipScopeOnExchange: false,
  narrowScopesOnRefresh: false,
  pkce: true,
  quirks: [],
  keepTokenFields: [],
  credentialSchema: undefined,
  authStrategy: undefined,
};

/** The strategy agents get for a static provider when it names none. */
export function defaultStrategy(authType: AuthType): Strategy | undefined {
  switch (authType) {
    case "oauth2":
      return { type: "oauth2", config: {} };
    case "api_key":
      return { type: "header", config: { header_name: "X-API-Key", credential_field: "api_key" } };
    case "basic_auth":
      return { type: "basic_auth", config: { username_field: "username", password_field: "password" } };
    default:
      return undefined;
  }
}

/** The JSON Schema a static provider collects when it names none. */
export function defaultCredentialSchema(authType: AuthType): JsonObject | undefined {
  const secret = (title: string) => ({ type: "string", title, format: "password" });
  switch (authType) {
    case "api_key":
      return { type: "object", required: ["api_key"], properties: { api_key: secret("API key") } };
    case "header":
    case "query_param":
      return { type: "object", required: ["api_key"], properties: { api_key: secret("API key") } };
    case "basic_auth":
      return { type: "object", required: ["username", "password"], properties: { username: { type: "string", title: "Username" }, password: secret("Password") } };
    case "hmac_payload":
      return { type: "object", required: ["api_secret"], properties: { api_secret: secret("Signing secret") } };
    case "aws_sigv4":
      return {
        type: "object",
        required: ["access_key", "secret_key"],
        properties: { access_key: { type: "string", title: "Access key ID" }, secret_key: secret("Secret access key"), session_token: secret("Session token (optional)") },
      };
    default:
      return undefined;
  }
}
