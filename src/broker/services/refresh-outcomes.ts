import { NexusError } from "../../shared/errors.ts";
import type { Logger } from "../../shared/logger.ts";
import type { CredentialRecord } from "../domain/connection.ts";
import type { AuditLog, BrokerMetrics, ConnectionStore, LeaseRef, NewCredential, RefreshClaim, Sealer } from "../domain/ports.ts";
import { backoffSeconds, type RefreshFailure } from "../domain/refresh-policy.ts";
import { sealedFields } from "../domain/sealed-fields.ts";
import type { TokenSet } from "../oauth/token-endpoint.ts";
import { oauthSecret } from "./credential-payload.ts";
import type { RefreshSettings, RefreshTrigger } from "./refresh-service.ts";
import { type Sleep, writeUntilLanded } from "./write-until-landed.ts";

/** One attempt whose outcome is to be written. */
export interface AttemptContext {
  readonly claim: RefreshClaim;
  readonly trigger: RefreshTrigger;
  readonly caller: string;
  /** The registered agent whose call this refresh is, if any. */
  readonly agentId?: string;
  /** When the lease was claimed (ms): it lapses `leaseSeconds` later. */
  readonly claimedAt: number;
  readonly seconds: number;
  readonly providerName: string;
}

/** What writing outcomes needs. */
export interface RefreshOutcomeDeps {
  readonly connections: Pick<ConnectionStore, "getCredential" | "storeRefreshed" | "recordRefreshFailure" | "requireAttention">;
  readonly sealer: Sealer;
  readonly audit: AuditLog;
  readonly metrics: Pick<BrokerMetrics, "refresh">;
  readonly logger: Logger;
  readonly now: () => number;
  readonly sleep: Sleep;
  readonly random: () => number;
  readonly settings: RefreshSettings;
  /** Writes of a provider's answer retry until this time (the end of a shutdown's drain; else never). */
  readonly hardDeadline: () => number;
  /** Gives a lease back, retrying until it would have lapsed anyway. */
  readonly settle: (connectionId: string, lease: LeaseRef, claimedAt: number) => Promise<void>;
}

/** Writing the outcome of a refresh attempt; see each method. */
export interface RefreshOutcomes {
  /** New tokens: stored whatever it takes, unless another refresh of the grant stored newer ones first. */
  store(context: AttemptContext, tokens: TokenSet, presented: string): Promise<CredentialRecord>;
  /**
   * A narrowing refresh's answer: the connection keeps its own access token,
   * and a refresh token the provider rotated is stored like any other (or the
   * lease is simply given back when it did not rotate).
   */
  storeRotation(context: AttemptContext, tokens: TokenSet, presented: string): Promise<void>;
  /** The provider refused the grant: the connection needs the user. Throws `attention_required`. */
  needsUser(context: AttemptContext, failure: RefreshFailure): Promise<CredentialRecord>;
  /** Anything else: back off, or after the give-up days need the user. Throws. */
  backOff(context: AttemptContext, failure: RefreshFailure): Promise<never>;
}

/** Creates the outcome writers of the refresh service. */
export function createRefreshOutcomes(deps: RefreshOutcomeDeps): RefreshOutcomes {
  const s = deps.settings;
  const leaseEnd = (c: AttemptContext) => () => Math.min(deps.hardDeadline(), c.claimedAt + s.leaseSeconds * 1000);
  const fieldsOf = (c: AttemptContext) => ({ connection_id: c.claim.record.connectionId, provider: c.providerName, trigger: c.trigger });
  const auditBase = (c: AttemptContext) => ({
    connectionId: c.claim.record.connectionId, providerId: c.claim.providerId, providerName: c.providerName, caller: c.caller,
    ...(c.agentId === undefined ? {} : { agentId: c.agentId }),
  });

  async function markAttention(c: AttemptContext, reason: string, extra: Record<string, number>): Promise<void> {
    const id = c.claim.record.connectionId;
    await writeUntilLanded(deps, { what: "mark the connection attention_required", fields: fieldsOf(c), deadline: leaseEnd(c) },
      () => deps.connections.requireAttention(id, reason, c.claim.record.version));
    deps.logger.warn("token refresh refused; the connection needs the user", { ...fieldsOf(c), reason, ...extra });
    await deps.audit.recordNow({ ...auditBase(c), eventType: "connection.attention_required", outcome: "failure", reason, details: { trigger: c.trigger, ...extra } });
  }

  /** Writes `credential` under the claim, whatever it takes; see store(). */
  async function persist(c: AttemptContext, credential: NewCredential, rotated: boolean): Promise<CredentialRecord> {
    const { record, lease } = c.claim;
    const id = record.connectionId;
    let landed: { record: CredentialRecord | undefined; revived: boolean; ours: boolean };
    try {
      landed = await writeUntilLanded(deps, { what: "store the refreshed tokens", fields: fieldsOf(c), deadline: deps.hardDeadline }, async () => {
        const written = await deps.connections.storeRefreshed(id, lease, record.version, credential);
        if (written !== undefined) return { ...written, ours: true };
        const current = await deps.connections.getCredential(id);
        // A write that committed but whose answer was lost names our claim: it was ours after all.
        return { record: current, revived: false, ours: current?.writtenByLease === lease.id };
      });
    } catch (error) {
      deps.logger.error("the refreshed tokens could not be stored; if the provider rotated the refresh token, this grant is lost", {
        ...fieldsOf(c), hint: "check the database (DATABASE_URL); if this connection later turns attention_required, the user reconnects it",
      });
      throw new NexusError("unavailable", "the refreshed token could not be stored; try again shortly", { cause: error, retryAfterSeconds: 1 });
    }
    deps.metrics.refresh("success", c.seconds);
    if (!landed.ours) {
      await deps.settle(id, lease, c.claimedAt);
      deps.logger.warn("another refresh of this grant stored its tokens first; this answer is discarded", fieldsOf(c));
      deps.audit.record({ ...auditBase(c), eventType: "token.refreshed", outcome: "success", details: { trigger: c.trigger, rotated, written: false } });
      if (landed.record === undefined) throw new NexusError("connection_not_found", `connection ${id} has no credential (revoked meanwhile)`);
      return landed.record;
    }
    deps.logger.info("token refreshed", { ...fieldsOf(c), ms: Math.round(c.seconds * 1000), rotated, interrupted_before: c.claim.interrupted });
    deps.audit.record({ ...auditBase(c), eventType: "token.refreshed", outcome: "success", details: { trigger: c.trigger, rotated, written: true } });
    if (landed.revived) {
      deps.logger.warn("connection active again: a refresh refused meanwhile elsewhere was superseded by this one", fieldsOf(c));
      deps.audit.record({ ...auditBase(c), eventType: "connection.reactivated", outcome: "success", details: { trigger: c.trigger } });
    }
    return landed.record!;
  }

  return {
    async store(c, tokens, presented) {
      const id = c.claim.record.connectionId;
      if (tokens.expiresIn !== undefined && tokens.expiresIn < s.minIntervalSeconds) {
        deps.logger.warn("provider quirk: the new token lives less than the minimum refresh interval", {
          ...fieldsOf(c), expires_in_s: tokens.expiresIn, min_interval_s: s.minIntervalSeconds,
        });
      }
      return persist(c, {
        keyId: deps.sealer.activeKeyId,
        secretCt: deps.sealer.seal(oauthSecret(tokens), { ...sealedFields.credentialSecret, rowId: id }),
        // A provider that does not rotate keeps the old refresh token valid (RFC 6749 section 6).
        refreshCt: deps.sealer.seal(tokens.refreshToken ?? presented, { ...sealedFields.credentialRefreshToken, rowId: id }),
        expiresInSeconds: tokens.expiresIn,
        refreshMarginSeconds: s.marginSeconds,
        minRefreshIntervalSeconds: s.minIntervalSeconds,
      }, tokens.refreshToken !== undefined);
    },

    async storeRotation(c, tokens) {
      const { record, lease } = c.claim;
      const id = record.connectionId;
      if (tokens.refreshToken === undefined) {
        deps.metrics.refresh("success", c.seconds);
        deps.audit.record({ ...auditBase(c), eventType: "token.refreshed", outcome: "success", details: { trigger: c.trigger, rotated: false, written: false } });
        return deps.settle(id, lease, c.claimedAt);
      }
      // The stored access token (all the connection's scopes) stays, and so does its refresh schedule: only the refresh token moves on.
      const secret = deps.sealer.openText(record.secretCt, { ...sealedFields.credentialSecret, rowId: id });
      await persist(c, {
        keyId: deps.sealer.activeKeyId,
        secretCt: deps.sealer.seal(secret, { ...sealedFields.credentialSecret, rowId: id }),
        refreshCt: deps.sealer.seal(tokens.refreshToken, { ...sealedFields.credentialRefreshToken, rowId: id }),
        expiresInSeconds: undefined,
        refreshMarginSeconds: s.marginSeconds,
        minRefreshIntervalSeconds: s.minIntervalSeconds,
        keepSchedule: true,
      }, true);
    },

    async needsUser(c, failure) {
      const { record } = c.claim;
      const id = record.connectionId;
      // A sibling that rotated the token meanwhile is a success, not a refusal.
      let current: CredentialRecord | undefined;
      try {
        current = await writeUntilLanded(deps, { what: "read the credential after a refused refresh", fields: fieldsOf(c), deadline: leaseEnd(c) },
          () => deps.connections.getCredential(id));
      } catch (error) {
        await deps.settle(id, c.claim.lease, c.claimedAt);
        throw error;
      }
      if (current === undefined) throw new NexusError("connection_not_found", `connection ${id} has no credential (revoked meanwhile)`);
      if (current.version !== record.version) {
        await deps.settle(id, c.claim.lease, c.claimedAt);
        return current;
      }
      // The last attempt died after it may have presented this token: say so, not a bare invalid_grant.
      const reason = c.claim.interrupted && failure.reason === "invalid_grant" ? "rotation_interrupted" : failure.reason;
      deps.audit.record({ ...auditBase(c), eventType: "token.refresh_failed", outcome: "failure", reason, details: { trigger: c.trigger, http_status: failure.status } });
      await markAttention(c, reason, { http_status: failure.status });
      const why = reason === "rotation_interrupted"
        ? "an earlier refresh was interrupted after it may have presented the refresh token, and the provider refuses the stored one"
        : `the provider refused the refresh (${reason})`;
      throw new NexusError("attention_required", `${why}; the user must reconnect`);
    },

    async backOff(c, failure) {
      const { record, lease } = c.claim;
      const id = record.connectionId;
      const retryIn = backoffSeconds(record.failureCount, s.backoffSeconds, deps.random, failure.retryAfterSeconds);
      // Keep the write-ahead mark while the provider may hold a rotated token we never heard about.
      const keepMark = c.claim.interrupted || failure.maybeRotated;
      let failed: { failureCount: number; failingSince: Date } | undefined;
      try {
        failed = await writeUntilLanded(deps, { what: "record the refresh failure", fields: fieldsOf(c), deadline: leaseEnd(c) },
          () => deps.connections.recordRefreshFailure(id, lease, { error: failure.reason, retryInSeconds: retryIn, keepMark }));
      } catch {
        // The lease lapses by itself; the next claim tries again.
      }
      deps.logger.warn("token refresh failed; will retry", {
        ...fieldsOf(c), error: failure.reason, http_status: failure.status, retry_in_s: retryIn, failures: failed?.failureCount ?? record.failureCount + 1,
      });
      deps.audit.record({ ...auditBase(c), eventType: "token.refresh_failed", outcome: "failure", reason: failure.reason, details: { trigger: c.trigger, http_status: failure.status, retry_in_s: retryIn } });
      if (failed !== undefined && deps.now() - failed.failingSince.getTime() >= s.giveUpDays * 86_400_000) {
        await markAttention(c, "refresh_failing", { failures: failed.failureCount });
        throw new NexusError("attention_required", `refreshing has failed for ${s.giveUpDays} days; the user must reconnect`);
      }
      throw new NexusError("provider_unavailable", `the token was not refreshed (${failure.reason}); try again later`, { retryAfterSeconds: retryIn });
    },
  };
}
