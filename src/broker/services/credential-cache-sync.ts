import type { Logger } from "../../shared/logger.ts";
import type { CredentialChangeFeed } from "../domain/ports.ts";
import type { CredentialCache } from "./credential-cache.ts";

/** A cache the feed keeps true: drop one entry or all, and whether it may keep anything. */
export interface SyncedCache {
  invalidate(id?: string): void;
  trust(trusted: boolean): void;
  readonly trusted: boolean;
}

/** Dependencies of {@linkcode startCredentialCacheSync}. */
export interface CredentialCacheSyncDeps {
  readonly feed: CredentialChangeFeed;
  readonly cache: CredentialCache;
  /** The agents cache, kept true by the same feed. */
  readonly agents?: SyncedCache;
  readonly logger: Logger;
  /** A monotonic clock in ms, for heartbeat timing (not the wall clock tests move). @default performance.now */
  readonly monotonicNow?: () => number;
  /** Tells this Broker's heartbeats from other Brokers'. */
  readonly instanceId: string;
  /** How often a heartbeat goes through the feed. @default 1000 */
  readonly heartbeatMs?: number;
}

/** A running sync; `stop` unsubscribes and leaves the cache untrusted. */
export interface CredentialCacheSync {
  stop(): Promise<void>;
}

/**
 * Keeps the cache true to the database across Brokers: every change any
 * Broker makes drops the matching entry here. The cache is trusted only
 * while that is certain: from the moment the subscription listens (emptied
 * first, since changes while it was down were missed) for as long as this
 * Broker's own heartbeats keep coming back through it. A heartbeat three
 * intervals late (a dead or stalled connection, an unreachable database)
 * empties the cache and stops it keeping anything until they return.
 */
export function startCredentialCacheSync(deps: CredentialCacheSyncDeps): CredentialCacheSync {
  const { feed, logger } = deps;
  // Both caches are trusted, emptied and distrusted together: they hear the same feed.
  const caches: SyncedCache[] = [deps.cache, ...(deps.agents === undefined ? [] : [deps.agents])];
  const cache = {
    invalidate: (id?: string) => caches.forEach((c) => c.invalidate(id)),
    trust: (value: boolean) => caches.forEach((c) => c.trust(value)),
    get trusted() {
      return deps.cache.trusted;
    },
  };
  const heartbeatMs = deps.heartbeatMs ?? 1000;
  const now = deps.monotonicNow ?? (() => performance.now());
  const patienceMs = heartbeatMs * 3;
  let lastPong = Number.NEGATIVE_INFINITY;
  let unsubscribe: (() => Promise<void>) | undefined;
  let subscribing = false;
  let subscribeFailing = false;
  let stopped = false;

  const trust = () => {
    if (cache.trusted || stopped) return;
    cache.trust(true);
    logger.info("token and agent caches in use: changes from every Broker reach this one");
  };

  async function subscribe(): Promise<void> {
    if (unsubscribe !== undefined || subscribing || stopped) return;
    subscribing = true;
    try {
      const off = await feed.subscribe({
        changed: (connectionId) => deps.cache.invalidate(connectionId),
        agentChanged: (agentId) => deps.agents?.invalidate(agentId),
        pong: (token) => {
          if (token !== deps.instanceId) return;
          lastPong = now();
          trust();
        },
        listening: () => {
          // (Re)subscribed: whatever changed meanwhile went unheard, so forget everything.
          cache.invalidate();
          lastPong = now();
          trust();
        },
      });
      if (stopped) await off();
      else unsubscribe = off;
      subscribeFailing = false;
    } catch (error) {
      // Once per outage: the retry runs every heartbeat.
      if (!subscribeFailing) logger.warn("token cache: cannot subscribe to credential changes; answering from the database", { error: String(error) });
      subscribeFailing = true;
    } finally {
      subscribing = false;
    }
  }

  /** postgres.js re-listens after a lost connection once; when that fails, the subscription is gone: start over. */
  async function resubscribe(): Promise<void> {
    const off = unsubscribe;
    unsubscribe = undefined;
    await off?.().catch(() => {});
    await subscribe();
  }

  function tick(): void {
    const silentMs = now() - lastPong;
    if (cache.trusted && silentMs > patienceMs) {
      cache.trust(false);
      logger.warn("token cache off: credential changes are not reaching this Broker; answering from the database (agents too)");
    }
    if (unsubscribe === undefined || (!cache.trusted && silentMs > patienceMs * 2)) void resubscribe();
    feed.ping(deps.instanceId).catch(() => {
      // A failed heartbeat is simply missed; the late pong above is the alarm.
    });
  }

  void subscribe();
  const timer = setInterval(tick, heartbeatMs);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      cache.trust(false);
      await unsubscribe?.().catch(() => {});
    },
  };
}
