import { NexusError } from "../../shared/errors.ts";
import type { CredentialRecord } from "../domain/connection.ts";
import { sealedFields } from "../domain/sealed-fields.ts";
import { exchangeToken } from "../oauth/token-endpoint.ts";
import { oauthSecret } from "./credential-payload.ts";
import type { ServiceDeps } from "./service-deps.ts";

/** Why a refresh runs. */
export type RefreshTrigger = "on_demand" | "forced" | "background";

/** Options of one refresh. */
export interface RefreshOptions {
  readonly trigger: RefreshTrigger;
  readonly signal?: AbortSignal;
  readonly caller?: string;
}

/** Refreshing OAuth tokens. */
export interface RefreshService {
  /**
   * Refreshes a connection's access token and returns the stored credential
   * after it. Within this process one refresh per connection runs at a time:
   * concurrent callers share it. Throws `not_refreshable`, `attention_required`
   * (the grant is gone) or `provider_unavailable` (try again later).
   */
  refresh(connectionId: string, options: RefreshOptions): Promise<CredentialRecord>;
}

/**
 * Creates the refresh path. The new token is written with compare-and-set on
 * the credential's version, so a writer that lost a race never overwrites a
 * newer token; when the provider says `invalid_grant`, the row is read again
 * first, because a sibling that rotated the token meanwhile is a success.
 */
export function createRefreshService(deps: ServiceDeps): RefreshService {
  const inFlight = new Map<string, Promise<CredentialRecord>>();

  async function run(connectionId: string, options: RefreshOptions): Promise<CredentialRecord> {
    const before = await deps.connections.getCredential(connectionId);
    if (before === undefined) throw new NexusError("connection_not_found", `connection ${connectionId} has no credential`);
    if (options.trigger === "on_demand" && !expired(before, deps.now())) return before; // someone refreshed while we waited
    if (before.refreshCt === null) {
      throw new NexusError("not_refreshable", "the provider gave no refresh token; reconnect to get a new access token");
    }
    const connection = await deps.connections.get(connectionId);
    const provider = connection && (await deps.providers.getById(connection.providerId, { includeDeleted: true }));
    if (connection === undefined || provider === undefined) throw new NexusError("connection_not_found", `no connection ${connectionId}`);
    const endpoints = await deps.endpoints.resolve(provider, options.signal);
    const refreshToken = deps.sealer.openText(before.refreshCt, { ...sealedFields.credentialRefreshToken, rowId: connectionId });
    const clientSecret = provider.clientSecretCt === null
      ? ""
      : deps.sealer.openText(provider.clientSecretCt, { ...sealedFields.providerClientSecret, rowId: provider.id });
    const started = deps.now();
    const result = await exchangeToken(
      { tokenEndpoint: endpoints.tokenEndpoint, clientId: provider.clientId, clientSecret, authMethod: endpoints.authMethod },
      { type: "refresh_token", refreshToken },
      { fetch: deps.fetch, now: deps.now, timeoutMs: deps.settings.providerTimeoutMs, ...(options.signal === undefined ? {} : { signal: options.signal }) },
    );
    const seconds = (deps.now() - started) / 1000;
    const audit = { connectionId, providerId: provider.id, providerName: provider.name, ...(options.caller === undefined ? {} : { caller: options.caller }) };
    if (result.ok) {
      const tokens = result.tokens;
      const keep = tokens.refreshToken ?? refreshToken; // a provider that does not rotate keeps the old one valid
      const written = await deps.connections.replaceCredential(connectionId, before.version, {
        keyId: deps.sealer.activeKeyId,
        secretCt: deps.sealer.seal(oauthSecret(tokens), { ...sealedFields.credentialSecret, rowId: connectionId }),
        refreshCt: deps.sealer.seal(keep, { ...sealedFields.credentialRefreshToken, rowId: connectionId }),
        expiresInSeconds: tokens.expiresIn,
        refreshMarginSeconds: deps.settings.refreshMarginSeconds,
      });
      deps.metrics.refresh("success", seconds);
      deps.audit.record({
        ...audit,
        eventType: "token.refreshed",
        outcome: "success",
        details: { trigger: options.trigger, rotated: tokens.refreshToken !== undefined, written },
      });
      return (await deps.connections.getCredential(connectionId))!;
    }
    deps.metrics.refresh("error", seconds);
    if (result.kind === "transient") {
      deps.audit.record({ ...audit, eventType: "token.refresh_failed", outcome: "failure", reason: result.error, details: { trigger: options.trigger, http_status: result.status } });
      throw new NexusError("provider_unavailable", `the provider did not refresh the token (${result.error}); try again later`, {
        ...(result.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: result.retryAfterSeconds }),
      });
    }
    const now = await deps.connections.getCredential(connectionId);
    if (now !== undefined && now.version !== before.version) return now; // a sibling already rotated the token
    await deps.connections.requireAttention(connectionId, result.error, before.version);
    await deps.audit.recordNow({ ...audit, eventType: "token.refresh_failed", outcome: "failure", reason: result.error, details: { trigger: options.trigger, http_status: result.status } });
    await deps.audit.recordNow({ ...audit, eventType: "connection.attention_required", outcome: "failure", reason: result.error });
    throw new NexusError("attention_required", `the provider refused the refresh (${result.error}); the user must reconnect`);
  }

  return {
    refresh(connectionId, options) {
      const running = inFlight.get(connectionId);
      if (running !== undefined) return running;
      const promise = run(connectionId, options).finally(() => inFlight.delete(connectionId));
      inFlight.set(connectionId, promise);
      return promise;
    },
  };
}

/** True when the access token has expired or will within 30 seconds. */
export function expired(record: CredentialRecord, now: number): boolean {
  return record.expiresAt !== null && record.expiresAt.getTime() <= now + 30_000;
}
