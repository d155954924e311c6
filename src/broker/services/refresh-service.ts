import { NexusError } from "../../shared/errors.ts";
import type { Logger } from "../../shared/logger.ts";
import type { CredentialRecord } from "../domain/connection.ts";
import type { AuditLog, BrokerMetrics, ConnectionStore, LeaseRef, ProviderStore, RefreshClaim, Sealer } from "../domain/ports.ts";
import { refreshedTooRecently } from "../domain/refresh-policy.ts";
import type { FetchLike } from "../oauth/fetch-with-timeout.ts";
import type { TokenSet } from "../oauth/token-endpoint.ts";
import type { EndpointResolver } from "./provider-endpoints.ts";
import { attemptRefresh } from "./refresh-attempt.ts";
import { createRefreshOutcomes } from "./refresh-outcomes.ts";
import { type Sleep, writeUntilLanded } from "./write-until-landed.ts";
import { untilAborted } from "../../shared/until-aborted.ts";

/** Why a refresh runs. */
export type RefreshTrigger = "on_demand" | "forced" | "background" | "narrow";

/** Options of one refresh asked for by a caller. */
export interface RefreshOptions {
  readonly trigger: "on_demand" | "forced";
  /** Ends the caller's wait, never the refresh: a refresh token sent to the provider must have its answer written. */
  readonly signal?: AbortSignal;
  readonly caller?: string;
  /** The registered agent asking, named in the audit events of the refresh. */
  readonly agentId?: string;
}

/** Refreshing OAuth tokens. */
export interface RefreshService {
  /**
   * Refreshes a connection's access token and returns the stored credential
   * after it. Throws `not_refreshable`, `attention_required` (the grant is
   * gone), `refresh_backoff` or `provider_unavailable` (try again later).
   */
  refresh(connectionId: string, options: RefreshOptions): Promise<CredentialRecord>;
  /** Refreshes a credential the background loop claimed, after `delayMs`. Never rejects: outcomes are logged and audited. */
  refreshClaimed(claim: RefreshClaim, delayMs?: number): Promise<void>;
  /**
   * A provider access token limited to `scopes`, by a refresh that asks for
   * them (RFC 6749 section 6). The connection keeps its own access token; a
   * refresh token the provider rotated on the way is stored, as by any
   * refresh. Serialized with every other refresh of the connection.
   */
  narrow(connectionId: string, scopes: readonly string[], audit: { caller: string; agentId?: string }): Promise<TokenSet>;
  /**
   * Stops taking new refreshes and waits up to `graceMs` for those already
   * running to write their outcome; resolves to how many had not finished.
   */
  drain(graceMs: number): Promise<number>;
}

/** The refresh engine's settings. */
export interface RefreshSettings {
  /** This process's name on leases. */
  readonly instanceId: string;
  readonly leaseSeconds: number;
  /** Deadline of one provider call; shorter than the lease. */
  readonly providerTimeoutMs: number;
  readonly backoffSeconds: number;
  readonly giveUpDays: number;
  readonly marginSeconds: number;
  readonly minIntervalSeconds: number;
}

/** What the refresh service uses, and nothing more. */
export interface RefreshServiceDeps {
  readonly connections: Pick<ConnectionStore, "get" | "getCredential" | "claimLease" | "storeRefreshed" | "releaseLease" | "recordRefreshFailure" | "requireAttention">;
  readonly providers: Pick<ProviderStore, "getById">;
  readonly endpoints: EndpointResolver;
  readonly sealer: Sealer;
  readonly fetch: FetchLike;
  readonly audit: AuditLog;
  readonly metrics: Pick<BrokerMetrics, "refresh">;
  readonly logger: Logger;
  readonly now: () => number;
  readonly sleep: Sleep;
  /** Uniform in [0, 1): jitter. */
  readonly random: () => number;
  readonly randomUUID: () => string;
  readonly settings: RefreshSettings;
}

/**
 * One refresh path for the background loop and on-demand callers.
 *
 * Within a process one refresh per connection runs at a time (callers share
 * it); across processes the credential row's lease decides, so a rotating
 * refresh token is presented once. The claim sets a write-ahead mark before
 * anything is sent. Once the provider has answered, the answer is written
 * whatever happens: through database outages (retried until the process is
 * stopped) and through version bumps that are not another refresh (there are
 * none: only token writes move `version`). Every failure, before or after the
 * provider call, backs off per connection; only the provider's refusal of the
 * grant needs the user. The lease is given back on every path.
 */
export function createRefreshService(deps: RefreshServiceDeps): RefreshService {
  const s = deps.settings;
  const inFlight = new Map<string, Promise<CredentialRecord>>();
  const settling = new Set<Promise<unknown>>();
  let stopping = false;
  let hardDeadline = Number.POSITIVE_INFINITY;
  const outcomes = createRefreshOutcomes({ ...deps, hardDeadline: () => hardDeadline, settle });
  // Providers change rarely; a refresh storm would otherwise read the same row thousands of times.
  const attemptDeps = { ...deps, providers: cachedProviders(deps.providers, deps.now) };

  /** Gives a lease back, retrying until it would have lapsed anyway; tracked so a drain waits for it. */
  function settle(connectionId: string, lease: LeaseRef, claimedAt: number): Promise<void> {
    const task = writeUntilLanded(deps, {
      what: "release the refresh lease", fields: { connection_id: connectionId }, deadline: () => Math.min(hardDeadline, claimedAt + s.leaseSeconds * 1000),
    }, () => deps.connections.releaseLease(connectionId, lease)).catch(() => {});
    settling.add(task);
    void task.finally(() => settling.delete(task));
    return task;
  }

  function track(connectionId: string, run: () => Promise<CredentialRecord>): Promise<CredentialRecord> {
    const promise = run().finally(() => {
      if (inFlight.get(connectionId) === promise) inFlight.delete(connectionId);
    });
    inFlight.set(connectionId, promise);
    return promise;
  }

  /** With the lease held: ask the provider, then write what it said. */
  async function held(claim: RefreshClaim, trigger: RefreshTrigger, who: { caller: string; agentId?: string }, claimedAt: number): Promise<CredentialRecord> {
    const started = deps.now();
    const attempt = await attemptRefresh(attemptDeps, claim);
    const seconds = (deps.now() - started) / 1000;
    const context = { claim, trigger, ...who, claimedAt, seconds, providerName: attempt.providerName };
    if (attempt.ok) return outcomes.store(context, attempt.tokens, attempt.refreshToken);
    deps.metrics.refresh("error", seconds);
    if (attempt.failure === "database") {
      await settle(claim.record.connectionId, claim.lease, claimedAt);
      throw attempt.error;
    }
    return attempt.failure.kind === "needs_user" ? outcomes.needsUser(context, attempt.failure) : outcomes.backOff(context, attempt.failure);
  }

  async function run(connectionId: string, options: RefreshOptions): Promise<CredentialRecord> {
    const who = { caller: options.caller ?? "nexus:refresh", ...(options.agentId === undefined ? {} : { agentId: options.agentId }) };
    const before = await mustGetCredential(connectionId);
    if (options.trigger === "on_demand" && !expired(before, deps.now())) return before;
    if (before.refreshCt === null) throw notRefreshable();
    // A provider that hands out tokens living 0 or 1 s would otherwise be asked on every read.
    if (options.trigger === "on_demand" && refreshedTooRecently(before.refreshedAt, deps.now(), s.minIntervalSeconds)) return before;
    assertNotBackingOff(before, deps.now());
    const claimed = await claim(connectionId);
    if (claimed.kind === "busy") return waitForSibling(connectionId, before, options);
    if (claimed.kind === "changed") return claimed.record;
    const { claim: c, claimedAt } = claimed;
    if (c.record.version !== before.version || (options.trigger === "on_demand" && !expired(c.record, deps.now()))) {
      await settle(connectionId, c.lease, claimedAt);
      return c.record; // written by someone else since our first read
    }
    return held(c, options.trigger, who, claimedAt);
  }

  /**
   * Takes the lease and reads the row under it: `held`; `busy` when another
   * process holds the lease; `changed` (lease given back) when a write landed
   * between the claim and the read.
   */
  async function claim(connectionId: string): Promise<
    { kind: "held"; claim: RefreshClaim; claimedAt: number } | { kind: "busy" } | { kind: "changed"; record: CredentialRecord }
  > {
    if (stopping) throw shuttingDown();
    const lease = { id: deps.randomUUID(), owner: s.instanceId, seconds: s.leaseSeconds };
    const claimedAt = deps.now();
    let claimed: Awaited<ReturnType<typeof deps.connections.claimLease>>;
    try {
      claimed = await deps.connections.claimLease(connectionId, lease);
    } catch (error) {
      // The claim may have committed before its answer was lost: give it back by the id we chose.
      void settle(connectionId, lease, claimedAt);
      throw error;
    }
    if (claimed === undefined) return { kind: "busy" };
    let record: CredentialRecord | undefined;
    let providerId: string | undefined;
    try {
      record = await deps.connections.getCredential(connectionId);
      providerId = (await deps.connections.get(connectionId))?.providerId;
    } catch (error) {
      await settle(connectionId, lease, claimedAt);
      throw error;
    }
    if (record === undefined || providerId === undefined || record.version !== claimed.version) {
      await settle(connectionId, lease, claimedAt);
      if (record === undefined || providerId === undefined) throw new NexusError("connection_not_found", `no connection ${connectionId}`);
      return { kind: "changed", record };
    }
    return { kind: "held", claim: { record, providerId, lease, interrupted: claimed.interrupted }, claimedAt };
  }

  /** One narrowing refresh under the lease: the narrowed token for the caller, a rotated refresh token for the row. */
  async function narrowOnce(connectionId: string, scopes: readonly string[], who: { caller: string; agentId?: string }): Promise<TokenSet> {
    const deadline = deps.now() + (s.leaseSeconds + 1) * 1000;
    for (;;) {
      const claimed = await claim(connectionId);
      if (claimed.kind === "held") {
        const { claim: c, claimedAt } = claimed;
        const started = deps.now();
        const attempt = await attemptRefresh(attemptDeps, c, scopes);
        const seconds = (deps.now() - started) / 1000;
        const context = { claim: c, trigger: "narrow" as const, ...who, claimedAt, seconds, providerName: attempt.providerName };
        if (attempt.ok) {
          await outcomes.storeRotation(context, attempt.tokens, attempt.refreshToken);
          return attempt.tokens;
        }
        deps.metrics.refresh("error", seconds);
        if (attempt.failure === "database") {
          await settle(connectionId, c.lease, claimedAt);
          throw attempt.error;
        }
        if (attempt.failure.kind === "needs_user") return outcomes.needsUser(context, attempt.failure).then(() => { throw notRefreshable(); });
        // The provider may have rotated the token unheard: back off and keep the mark, as any refresh would.
        if (attempt.failure.maybeRotated) return outcomes.backOff(context, attempt.failure);
        await settle(connectionId, c.lease, claimedAt);
        if (attempt.failure.status >= 400 && attempt.failure.status < 500) {
          throw new NexusError("invalid_scope", `the provider would not narrow the token to these scopes (${attempt.failure.reason})`);
        }
        throw new NexusError("provider_unavailable", `the provider did not narrow the token (${attempt.failure.reason}); try again later`, { retryAfterSeconds: 5 });
      }
      if (deps.now() > deadline || stopping) throw new NexusError("provider_unavailable", "the connection is being refreshed; try again shortly", { retryAfterSeconds: 1 });
      await deps.sleep(100);
    }
  }

  /** Another process holds the lease: wait for its outcome rather than present the same refresh token. */
  async function waitForSibling(connectionId: string, before: CredentialRecord, options: RefreshOptions): Promise<CredentialRecord> {
    const deadline = deps.now() + (s.leaseSeconds + 1) * 1000;
    while (deps.now() < deadline && !stopping) {
      await deps.sleep(100);
      const now = await mustGetCredential(connectionId);
      if (now.version !== before.version) return now;
      if (now.leaseUntil === null || now.leaseUntil.getTime() < deps.now()) {
        const connection = await deps.connections.get(connectionId);
        if (connection?.status === "attention_required") throw new NexusError("attention_required", `the user must reconnect (${connection.statusReason})`);
        assertNotBackingOff(now, deps.now());
        return run(connectionId, options.trigger === "forced" ? options : { ...options, trigger: "on_demand" });
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
      const shared = inFlight.get(connectionId) ?? track(connectionId, () => run(connectionId, options));
      return untilAborted(shared, options.signal);
    },
    async narrow(connectionId, scopes, who) {
      // One refresh of a connection at a time in this process; the lease keeps other processes out.
      for (let running = inFlight.get(connectionId); running !== undefined; running = inFlight.get(connectionId)) await running.catch(() => {});
      let tokens: TokenSet | undefined;
      await track(connectionId, async () => {
        tokens = await narrowOnce(connectionId, scopes, who);
        return mustGetCredential(connectionId);
      });
      return tokens!;
    },
    async refreshClaimed(claim, delayMs = 0) {
      const id = claim.record.connectionId;
      const claimedAt = deps.now();
      // A refresh of this connection already runs here (on demand): ours would present the same token again.
      if (inFlight.has(id)) return void (await settle(id, claim.lease, claimedAt));
      const task = track(id, async () => {
        if (delayMs > 0) await deps.sleep(delayMs);
        if (stopping) {
          await settle(id, claim.lease, claimedAt);
          throw shuttingDown();
        }
        return held(claim, "background", { caller: "nexus:refresh" }, claimedAt);
      });
      try {
        await task;
      } catch (error) {
        // Expected outcomes were logged and audited by the refresh itself.
        if (!(error instanceof NexusError)) deps.logger.error("background refresh failed", { connection_id: id, err: error, hint: "it is retried with backoff; nexus connections get <id> shows its state, err the cause" });
      }
    },
    async drain(graceMs) {
      stopping = true;
      hardDeadline = deps.now() + graceMs;
      const pending = [...inFlight.values(), ...settling].map((p) => p.then(() => {}, () => {}));
      if (pending.length === 0) return 0;
      let finished = 0;
      for (const p of pending) void p.then(() => finished++);
      const all = Promise.all(pending);
      // Short naps rather than one long timer, so nothing is left ticking once all have finished.
      while (finished < pending.length && deps.now() < hardDeadline) {
        await Promise.race([all, deps.sleep(Math.min(100, hardDeadline - deps.now()))]);
      }
      const unfinished = pending.length - finished;
      if (unfinished > 0) deps.logger.error("shutdown: refreshes still running at the drain deadline", { count: unfinished, hint: "their leases lapse and another Broker retries them; raise SHUTDOWN_DRAIN_SECONDS if this repeats" });
      return unfinished;
    },
  };
}

/** Provider reads kept for 5 s (a change reaches refreshes within that). */
function cachedProviders(providers: RefreshServiceDeps["providers"], now: () => number): RefreshServiceDeps["providers"] {
  const cache = new Map<string, { provider: Awaited<ReturnType<typeof providers.getById>>; at: number }>();
  return {
    async getById(id, options) {
      const hit = cache.get(id);
      if (hit !== undefined && now() - hit.at < 5000) return hit.provider;
      const provider = await providers.getById(id, options);
      cache.set(id, { provider, at: now() });
      return provider;
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

function shuttingDown(): NexusError {
  return new NexusError("unavailable", "this Broker is shutting down; try again shortly", { retryAfterSeconds: 1 });
}

function assertNotBackingOff(record: CredentialRecord, now: number): void {
  if (record.nextAttemptAt !== null && record.nextAttemptAt.getTime() > now) {
    const wait = Math.ceil((record.nextAttemptAt.getTime() - now) / 1000);
    throw new NexusError("refresh_backoff", `the provider failed recently (${record.lastError || "error"}); the next attempt is in ${wait} s`, { retryAfterSeconds: wait });
  }
}
