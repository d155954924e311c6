import type { Json, ManifestAgent, ManifestProvider } from "../manifest/manifest-types.ts";

/**
 * The provider fields plan compares, in the order they are shown; `params.*`
 * are compared one by one, and are also the update mask paths apply sends.
 * The client secret is not among them: it is compared by fingerprint.
 */
export const providerFields = [
  "auth_type", "template", "template_values", "client_id", "issuer", "enable_discovery", "auth_url", "token_url", "revocation_url",
  "scopes", "description", "category",
  "api_base_url", "user_info_endpoint", "aliases", "params.authorize_params", "params.token_endpoint_auth_method",
  "params.scope_separator", "params.skip_scope_on_authorize", "params.skip_scope_on_exchange", "params.pkce",
  "params.narrow_scopes_on_refresh", "params.quirks", "params.keep_token_fields", "params.credential_schema",
  "params.auth_strategy",
] as const;

/** The agent fields plan compares (the ones UpdateAgent can change). */
export const agentFields = ["description", "allowed_providers", "jwks"] as const;

/** One field of a provider or agent. */
export type ProviderField = (typeof providerFields)[number];
export type AgentField = (typeof agentFields)[number];

/**
 * A resource's comparable fields, each as the Broker stores it (defaults
 * filled in, URLs and lists normalised the Broker's way), `null` when unset,
 * so the manifest's and the Broker's views compare with plain JSON equality.
 */
export type Fields<F extends string> = Readonly<Record<F, Json>>;

/** A provider as the manifest wants it. */
export interface DesiredProvider {
  readonly name: string;
  readonly fields: Fields<ProviderField>;
  /** The client secret's value, when the manifest names one; compared by fingerprint only. */
  readonly clientSecret?: string;
  readonly entry: ManifestProvider;
}

/** An agent as the manifest wants it. */
export interface DesiredAgent {
  readonly name: string;
  readonly fields: Fields<AgentField>;
  readonly entry: ManifestAgent;
}

/** A provider as the Broker has it. */
export interface LiveProvider {
  readonly id: string;
  readonly name: string;
  readonly version: bigint;
  readonly fields: Fields<ProviderField>;
  readonly hasClientSecret: boolean;
  readonly clientSecretFingerprint: string;
  /** Milliseconds since the epoch; export lists the oldest first. */
  readonly createdAt: number;
}

/** A live (not disabled) agent as the Broker has it. */
export interface LiveAgent {
  readonly id: string;
  readonly name: string;
  readonly version: bigint;
  readonly fields: Fields<AgentField>;
  readonly createdAt: number;
}

/** Everything plan compares the manifest with. */
export interface LiveState {
  readonly providers: readonly LiveProvider[];
  readonly agents: readonly LiveAgent[];
}
