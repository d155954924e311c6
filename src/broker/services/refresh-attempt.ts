import { NexusError } from "../../shared/errors.ts";
import type { Logger } from "../../shared/logger.ts";
import type { ProviderStore, RefreshClaim, Sealer } from "../domain/ports.ts";
import type { Provider } from "../domain/provider.ts";
import { classifyTokenFailure, failureBeforeSending, type RefreshFailure } from "../domain/refresh-policy.ts";
import { sealedFields } from "../domain/sealed-fields.ts";
import type { FetchLike } from "../oauth/fetch-with-timeout.ts";
import { knownQuirks } from "../oauth/quirks.ts";
import { exchangeToken, type TokenSet } from "../oauth/token-endpoint.ts";
import type { EndpointResolver } from "./provider-endpoints.ts";

/** What one attempt needs. */
export interface RefreshAttemptDeps {
  readonly providers: Pick<ProviderStore, "getById">;
  readonly endpoints: EndpointResolver;
  readonly sealer: Sealer;
  readonly fetch: FetchLike;
  readonly logger: Logger;
  readonly now: () => number;
  readonly settings: { readonly providerTimeoutMs: number };
}

/** How an attempt ended: new tokens, a classified failure, or a database that could not be read before anything was sent. */
export type RefreshAttempt =
  | { readonly ok: true; readonly providerName: string; readonly tokens: TokenSet; readonly refreshToken: string }
  | { readonly ok: false; readonly providerName: string; readonly failure: RefreshFailure }
  | { readonly ok: false; readonly providerName: string; readonly failure: "database"; readonly error: unknown };

/**
 * Presents a claimed credential's refresh token to its provider. Never
 * throws: every failure, before the request (the provider is gone or no
 * longer OAuth, discovery is unreachable, a secret will not open) or after it,
 * comes back classified. The provider call is never tied to a caller's or
 * the process's abort signal, only to its own deadline: once the refresh
 * token may be on the wire, the answer must be heard.
 */
export async function attemptRefresh(deps: RefreshAttemptDeps, claim: RefreshClaim, scopes?: readonly string[]): Promise<RefreshAttempt> {
  const connectionId = claim.record.connectionId;
  let provider: Provider | undefined;
  try {
    provider = await deps.providers.getById(claim.providerId, { includeDeleted: true });
  } catch (error) {
    return { ok: false, providerName: "", failure: "database", error };
  }
  const providerName = provider?.name ?? "";
  const failed = (reason: string, message: string, level: "warn" | "error", extra: Record<string, unknown> = {}, retryAfterSeconds?: number) => {
    deps.logger[level](`refresh not attempted: ${message}`, { connection_id: connectionId, provider: providerName, reason, ...extra });
    return { ok: false as const, providerName, failure: failureBeforeSending(reason, retryAfterSeconds) };
  };
  if (provider === undefined) return failed("provider_missing", "the connection's provider no longer exists", "warn");
  if (provider.authType !== "oauth2") return failed("provider_not_oauth", `provider "${provider.name}" is no longer an OAuth 2.0 provider`, "warn");
  let endpoints;
  try {
    endpoints = await deps.endpoints.resolve(provider);
  } catch (error) {
    const retryAfter = error instanceof NexusError ? error.retryAfterSeconds : undefined;
    return failed("discovery_failed", "the provider's endpoints could not be resolved", "warn", { err: error }, retryAfter);
  }
  let refreshToken: string;
  let clientSecret = "";
  try {
    refreshToken = deps.sealer.openText(claim.record.refreshCt ?? "", { ...sealedFields.credentialRefreshToken, rowId: connectionId });
    if (provider.clientSecretCt !== null) {
      clientSecret = deps.sealer.openText(provider.clientSecretCt, { ...sealedFields.providerClientSecret, rowId: provider.id });
    }
  } catch (error) {
    return failed("decrypt_failed", "a stored secret could not be opened (check the vault keys)", "error", { err: error });
  }
  try {
    const result = await exchangeToken(
      {
        tokenEndpoint: endpoints.tokenEndpoint, clientId: provider.clientId, clientSecret, authMethod: endpoints.authMethod,
        quirks: knownQuirks(provider.params.quirks),
        ...(provider.params.scopeSeparator === undefined ? {} : { scopeSeparator: provider.params.scopeSeparator }),
      },
      // With scopes: a narrowed token (RFC 6749 section 6), for a session that may do less than the connection.
      { type: "refresh_token", refreshToken, ...(scopes === undefined ? {} : { scopes }) },
      { fetch: deps.fetch, now: deps.now, timeoutMs: deps.settings.providerTimeoutMs, keepTokenFields: provider.params.keepTokenFields },
    );
    if (result.ok) return { ok: true, providerName, tokens: withCarriedFields(deps, claim, provider, result.tokens), refreshToken };
    return { ok: false, providerName, failure: classifyTokenFailure(result) };
  } catch (error) {
    // exchangeToken rejects only for input it refuses to send (an empty stored token): nothing reached the provider.
    return failed("invalid_request", "the stored refresh token cannot be sent", "error", { err: error });
  }
}

/**
 * The kept fields (`params.keep_token_fields`) a refresh answer left out,
 * carried over from the stored credential: providers often send fields such
 * as Salesforce's instance_url only at the code exchange. Never fails: the
 * provider's answer must be stored whatever happens to its extras.
 */
function withCarriedFields(deps: RefreshAttemptDeps, claim: RefreshClaim, provider: Provider, tokens: TokenSet): TokenSet {
  const names = provider.params.keepTokenFields;
  if (names.length === 0) return tokens;
  try {
    const stored = JSON.parse(deps.sealer.openText(claim.record.secretCt, { ...sealedFields.credentialSecret, rowId: claim.record.connectionId })) as Record<string, unknown>;
    const carried: Record<string, string> = {};
    for (const name of names) {
      const value = stored[name];
      if (typeof value === "string" && tokens.kept?.[name] === undefined) carried[name] = value;
    }
    return Object.keys(carried).length === 0 ? tokens : { ...tokens, kept: { ...carried, ...tokens.kept } };
  } catch {
    return tokens;
  }
}
