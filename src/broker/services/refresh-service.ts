import { NexusError } from "../../shared/errors.ts";
import type { CredentialRecord } from "../domain/connection.ts";
import type { RefreshClaim } from "../domain/ports.ts";
import type { Provider } from "../domain/provider.ts";
import { sealedFields } from "../domain/sealed-fields.ts";
import { exchangeToken, type TokenResult } from "../oauth/token-endpoint.ts";
import { oauthSecret } from "./credential-payload.ts";
import type { ServiceDeps } from "./service-deps.ts";

/** Why a refresh runs. */
export type RefreshTrigger = "on_demand" | "forced" | "background";

/** Options of one refresh. */
export interface RefreshOptions {
  readonly trigger: RefreshTrigger;
  readonly signal?: AbortSignal;
  readonly caller?: string;
  /** The background loop already holds the lease on this row. */
  readonly leased?: RefreshClaim;
}

/** Refreshing OAuth tokens. */
export interface RefreshService {
  /**
   * Refreshes a connection's access token and returns the stored credential
   * after it. Throws `not_refreshable`, `attention_required` (the grant is
   * gone), `refresh_backoff` or `provider_unavailable` (try again later).
   */
  refresh(connectionId: string, options: RefreshOptions): Promise<CredentialRecord>;
}

/**
 * One refresh path for the background loop and on-demand callers. Within a
 * process one refresh per connection runs at a time (concurrent callers share
 * it); across processes the credential row's lease decides, so a rotating
 * refresh token is presented once. The new token is written with
 * compare-and-set on the credential version: a process that lost its lease
 * can never overwrite a newer token. On `invalid_grant` the row is read again
 * first, because a sibling that rotated the token meanwhile is a success.
 */
export function createRefreshService(deps: ServiceDeps): RefreshService {
  const inFlight = new Map<string, Promise<CredentialRecord>>();
  const s = deps.settings;
  // Providers change rarely; a refresh storm would otherwise read the same row thousands of times.
  const providers = new Map<string, { provider: Provider; at: number }>();
  const providerTtlMs = 5000;

  async function providerOf(providerId: string): Promise<Provider | undefined> {
    const hit = providers.get(providerId);
    if (hit !== undefined && deps.now() - hit.at < providerTtlMs) return hit.provider;
    const provider = await deps.providers.getById(providerId, { includeDeleted: true });
    if (provider === undefined) providers.delete(providerId);
    else providers.set(providerId, { provider, at: deps.now() });
    return provider;
  }

  async function run(connectionId: string, options: RefreshOptions): Promise<CredentialRecord> {
    if (options.leased !== undefined) return refreshHeld(options.leased.record, options.leased.providerId, options);
    const before = await mustGetCredential(connectionId);
    if (options.trigger === "on_demand" && !expired(before, deps.now())) return before;
    if (before.refreshCt === null) throw notRefreshable();
    assertNotBackingOff(before, deps.now());
    const version = await deps.connections.claimLease(connectionId, s.instanceId, s.refreshLeaseSeconds);
    if (version === undefined) return waitForSibling(connectionId, before, options);
    const leased = await mustGetCredential(connectionId);
    const connection = await deps.connections.get(connectionId);
    if (leased.version !== version || connection === undefined || (options.trigger === "on_demand" && !expired(leased, deps.now()))) {
      await deps.connections.releaseLease(connectionId, s.instanceId);
      if (connection === undefined) throw new NexusError("connection_not_found", `no connection ${connectionId}`);
      return leased; // written by someone else since our first read
    }
    return refreshHeld(leased, connection.providerId, options);
  }

  /** With the lease held on `record`: call the provider and record the outcome; the lease is always given back. */
  async function refreshHeld(record: CredentialRecord, providerId: string, options: RefreshOptions): Promise<CredentialRecord> {
    const connectionId = record.connectionId;
    const version = record.version;
    let result: TokenResult;
    let seconds: number;
    let context: { providerId: string; providerName: string };
    try {
      if (record.refreshCt === null) throw notRefreshable();
      const provider = await providerOf(providerId);
      if (provider === undefined) throw new NexusError("connection_not_found", `no provider for connection ${connectionId}`);
      context = { providerId: provider.id, providerName: provider.name };
      const endpoints = await deps.endpoints.resolve(provider, options.signal);
      const refreshToken = deps.sealer.openText(record.refreshCt, { ...sealedFields.credentialRefreshToken, rowId: connectionId });
      const clientSecret = provider.clientSecretCt === null
        ? ""
        : deps.sealer.openText(provider.clientSecretCt, { ...sealedFields.providerClientSecret, rowId: provider.id });
      const started = deps.now();
      result = await exchangeToken(
        { tokenEndpoint: endpoints.tokenEndpoint, clientId: provider.clientId, clientSecret, authMethod: endpoints.authMethod },
        { type: "refresh_token", refreshToken },
        { fetch: deps.fetch, now: deps.now, timeoutMs: s.providerTimeoutMs, ...(options.signal === undefined ? {} : { signal: options.signal }) },
      );
      seconds = (deps.now() - started) / 1000;
      if (result.ok) {
        const tokens = result.tokens;
        const written = await deps.connections.replaceCredential(connectionId, version, {
          keyId: deps.sealer.activeKeyId,
          secretCt: deps.sealer.seal(oauthSecret(tokens), { ...sealedFields.credentialSecret, rowId: connectionId }),
          // A provider that does not rotate keeps the old refresh token valid (RFC 6749 section 6).
          refreshCt: deps.sealer.seal(tokens.refreshToken ?? refreshToken, { ...sealedFields.credentialRefreshToken, rowId: connectionId }),
          expiresInSeconds: tokens.expiresIn,
          refreshMarginSeconds: s.refreshMarginSeconds,
        });
        deps.metrics.refresh("success", seconds);
        deps.logger.info("token refreshed", { connection_id: connectionId, trigger: options.trigger, ms: Math.round(seconds * 1000), written: written !== undefined });
        deps.audit.record({
          ...context, connectionId, caller: options.caller ?? "nexus:refresh", eventType: "token.refreshed", outcome: "success",
          details: { trigger: options.trigger, rotated: tokens.refreshToken !== undefined, written: written !== undefined },
        });
        // Not written: our lease lapsed and someone else wrote a newer token, which wins.
        return written ?? mustGetCredential(connectionId);
      }
    } catch (error) {
      await deps.connections.releaseLease(connectionId, s.instanceId).catch(() => {});
      throw error;
    }
    deps.metrics.refresh("error", seconds);
    const audit = { ...context, connectionId, caller: options.caller ?? "nexus:refresh", outcome: "failure" as const, reason: result.error };
    if (result.kind === "transient") return backOff(connectionId, record, result, options, audit);
    const now = await deps.connections.getCredential(connectionId);
    if (now !== undefined && now.version !== version) return now; // a sibling already rotated the token
    await deps.connections.requireAttention(connectionId, result.error, version);
    deps.logger.warn("token refresh refused; the connection needs the user", { connection_id: connectionId, trigger: options.trigger, error: result.error, http_status: result.status });
    await deps.audit.recordNow({ ...audit, eventType: "token.refresh_failed", details: { trigger: options.trigger, http_status: result.status } });
    await deps.audit.recordNow({ ...audit, eventType: "connection.attention_required" });
    throw new NexusError("attention_required", `the provider refused the refresh (${result.error}); the user must reconnect`);
  }

  /** Transient failure: retry later with exponential backoff and jitter, or give up after REFRESH_GIVE_UP_DAYS. */
  async function backOff(
    connectionId: string, record: CredentialRecord, result: Extract<TokenResult, { ok: false }>, options: RefreshOptions,
    audit: { connectionId: string; providerId: string; providerName: string; caller: string; outcome: "failure"; reason: string },
  ): Promise<never> {
    const exponent = Math.min(record.failureCount, 12);
    const backoff = Math.min(s.refreshBackoffSeconds * 2 ** exponent, 3600) * (0.8 + 0.4 * deps.random());
    const retryIn = Math.ceil(Math.max(backoff, Math.min(result.retryAfterSeconds ?? 0, 86_400)));
    const failed = await deps.connections.recordRefreshFailure(connectionId, s.instanceId, { error: result.error, retryInSeconds: retryIn });
    deps.logger.warn("token refresh failed; will retry", { connection_id: connectionId, trigger: options.trigger, error: result.error, http_status: result.status, retry_in_s: retryIn });
    deps.audit.record({ ...audit, eventType: "token.refresh_failed", details: { trigger: options.trigger, http_status: result.status, retry_in_s: retryIn } });
    if (failed !== undefined && deps.now() - failed.failingSince.getTime() >= s.refreshGiveUpDays * 86_400_000) {
      await deps.connections.requireAttention(connectionId, "refresh_failing", record.version);
      await deps.audit.recordNow({ ...audit, reason: "refresh_failing", eventType: "connection.attention_required", details: { failures: failed.failureCount } });
      throw new NexusError("attention_required", `refreshing has failed for ${s.refreshGiveUpDays} days; the user must reconnect`);
    }
    throw new NexusError("provider_unavailable", `the provider did not refresh the token (${result.error}); try again later`, { retryAfterSeconds: retryIn });
  }

  /** Another process holds the lease: wait for its outcome rather than present the same refresh token. */
  async function waitForSibling(connectionId: string, before: CredentialRecord, options: RefreshOptions): Promise<CredentialRecord> {
    const deadline = deps.now() + (s.refreshLeaseSeconds + 1) * 1000;
    while (deps.now() < deadline) {
      await sleep(100, options.signal);
      const now = await mustGetCredential(connectionId);
      if (now.version !== before.version) return now;
      if (now.leaseOwner === null || (now.leaseUntil !== null && now.leaseUntil.getTime() < deps.now())) {
        const connection = await deps.connections.get(connectionId);
        if (connection?.status === "attention_required") throw new NexusError("attention_required", `the user must reconnect (${connection.statusReason})`);
        assertNotBackingOff(now, deps.now());
        return run(connectionId, { ...options, trigger: options.trigger === "forced" ? "forced" : "on_demand" });
      }
    }
    throw new NexusError("provider_unavailable", "another Broker is refreshing this token; try again shortly", { retryAfterSeconds: 1 });
  }

  async function mustGetCredential(connectionId: string): Promise<CredentialRecord> {
    const record = await deps.connections.getCredential(connectionId);
    if (record === undefined) throw new NexusError("connection_not_found", `connection ${connectionId} has no credential`);
    return record;
  }

  return {
    refresh(connectionId, options) {
      // A refresh that already holds the lease always runs, and callers that come later join it; joining
      // an on-demand caller that is itself waiting for this lease would leave the lease idle until it lapsed.
      if (options.leased === undefined) {
        const running = inFlight.get(connectionId);
        if (running !== undefined) return running;
      }
      const promise: Promise<CredentialRecord> = run(connectionId, options).finally(() => {
        if (inFlight.get(connectionId) === promise) inFlight.delete(connectionId);
      });
      inFlight.set(connectionId, promise);
      return promise;
    },
  };
}

/**
 * When reading the access token starts to refresh it: 30 seconds before it
 * expires, or a third of its lifetime for shorter tokens, so that reading a
 * short-lived token does not refresh it on every read. Infinity when it does
 * not expire.
 */
export function refreshOnReadFrom(record: CredentialRecord): number {
  if (record.expiresAt === null) return Number.POSITIVE_INFINITY;
  const lifetime = record.refreshedAt === null ? Number.POSITIVE_INFINITY : record.expiresAt.getTime() - record.refreshedAt.getTime();
  return record.expiresAt.getTime() - Math.min(30_000, Math.max(0, lifetime) / 3);
}

/** True when the access token has expired or is about to (see {@linkcode refreshOnReadFrom}). */
export function expired(record: CredentialRecord, now: number): boolean {
  return refreshOnReadFrom(record) <= now;
}

function notRefreshable(): NexusError {
  return new NexusError("not_refreshable", "the provider gave no refresh token; reconnect to get a new access token");
}

function assertNotBackingOff(record: CredentialRecord, now: number): void {
  if (record.nextAttemptAt !== null && record.nextAttemptAt.getTime() > now) {
    const wait = Math.ceil((record.nextAttemptAt.getTime() - now) / 1000);
    throw new NexusError("refresh_backoff", `the provider failed recently (${record.lastError || "error"}); the next attempt is in ${wait} s`, { retryAfterSeconds: wait });
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}
