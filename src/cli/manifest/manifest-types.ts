import type { SourceMap } from "./source-map.ts";

/**
 * A version 1 manifest as written: snake_case keys, exactly as
 * schemas/manifest.v1.schema.json defines them (keep the two in sync).
 */

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | JsonObject;
/** A JSON object. */
export type JsonObject = { [key: string]: Json };

/** A provider's `params`: OAuth quirks, and the credential a static provider collects. */
export interface ManifestParams {
  readonly authorize_params?: Readonly<Record<string, string>>;
  readonly token_endpoint_auth_method?: "client_secret_basic" | "client_secret_post";
  readonly scope_separator?: string;
  readonly skip_scope_on_authorize?: boolean;
  readonly skip_scope_on_exchange?: boolean;
  readonly pkce?: boolean;
  readonly narrow_scopes_on_refresh?: boolean;
  readonly quirks?: readonly string[];
  readonly keep_token_fields?: readonly string[];
  readonly credential_schema?: JsonObject;
  readonly auth_strategy?: { readonly type: string; readonly config?: Readonly<Record<string, string>> };
}

/** One entry of `providers:`. */
export interface ManifestProvider {
  readonly name: string;
  /** A provider template's name; its settings apply under the fields given here. */
  readonly template?: string;
  readonly template_values?: Readonly<Record<string, string>>;
  /** Required without a template. */
  readonly auth_type?: string;
  readonly client_id?: string;
  /** A `${env:NAME}` or `${file:PATH}` reference, never the secret itself. */
  readonly client_secret?: string;
  readonly issuer?: string;
  readonly enable_discovery?: boolean;
  readonly auth_url?: string;
  readonly token_url?: string;
  readonly revocation_url?: string;
  readonly scopes?: readonly string[];
  readonly params?: ManifestParams;
  readonly description?: string;
  readonly category?: string;
  readonly api_base_url?: string;
  readonly user_info_endpoint?: string;
  readonly aliases?: readonly string[];
}

/** One entry of `agents:`. Never an API key: apply prints a new agent's key once. */
export interface ManifestAgent {
  readonly name: string;
  readonly description?: string;
  readonly allowed_providers?: readonly string[];
  /** A JWK Set, or a `${file:PATH}` reference to one. */
  readonly jwks?: string | JsonObject;
}

/** A whole manifest. */
export interface Manifest {
  readonly version: 1;
  readonly providers?: readonly ManifestProvider[];
  readonly agents?: readonly ManifestAgent[];
}

/**
 * A manifest with its references read: each provider's client secret and
 * each agent's JWK Set, in manifest order. `secrets` lists every secret
 * value, so output can be checked against them.
 */
export interface ResolvedManifest {
  /** The file as given on the command line. */
  readonly file: string;
  /** Where each part is in the file, to locate problems found later (templates the Broker knows). */
  readonly source?: SourceMap;
  readonly providers: readonly { readonly entry: ManifestProvider; readonly clientSecret?: string }[];
  readonly agents: readonly { readonly entry: ManifestAgent; readonly jwks: JsonObject | null }[];
  readonly secrets: readonly string[];
}
