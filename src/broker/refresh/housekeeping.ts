import type { Logger } from "../../shared/logger.ts";
import type { AuditLog, BrokerMetrics, HousekeepingStore } from "../domain/ports.ts";

/** Dependencies of {@linkcode startHousekeeping}. */
export interface HousekeepingDeps {
  readonly store: HousekeepingStore;
  readonly audit: AuditLog & { prune(days: number): Promise<number> };
  readonly metrics: BrokerMetrics;
  readonly logger: Logger;
  readonly now: () => number;
  readonly auditRetentionDays: number;
  /** How often lapsed handshakes are swept and the connection gauge is updated. @default 30000 */
  readonly intervalMs?: number;
  /** How often old audit events are pruned. @default 3600000 */
  readonly pruneIntervalMs?: number;
  /** Further hourly pruning (old sessions, retired signing keys): each returns how many rows went. */
  readonly prunes?: Readonly<Record<string, () => Promise<number>>>;
}

/** A running housekeeper. */
export interface Housekeeping {
  /** Runs one sweep now (tests, and the first one at start). */
  runOnce(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Lifecycle housekeeping: pending connections past their handshake expiry
 * become failed (and audited), lapsed handshake rows are deleted, the
 * nexus_connections_total gauge is refreshed, and audit events past the
 * retention are pruned in batches. Every statement is idempotent, so several
 * Brokers may sweep at once.
 */
export function startHousekeeping(deps: HousekeepingDeps): Housekeeping {
  const intervalMs = deps.intervalMs ?? 30_000;
  const pruneIntervalMs = deps.pruneIntervalMs ?? 3_600_000;
  let lastPrune = 0;
  let stopped = false;
  let current: Promise<void> = Promise.resolve();

  async function sweep(): Promise<void> {
    try {
      for (const c of await deps.store.expirePendingConnections()) {
        deps.audit.record({ eventType: "connection.expired", connectionId: c.id, providerId: c.providerId, outcome: "failure", reason: "handshake_expired", caller: "nexus:housekeeping" });
      }
      await deps.store.deleteExpiredHandshakes();
      await deps.store.deleteExpiredAssertions();
      deps.metrics.connections(await deps.store.countByStatus());
      if (deps.now() - lastPrune >= pruneIntervalMs) {
        lastPrune = deps.now();
        const pruned = await deps.audit.prune(deps.auditRetentionDays);
        if (pruned > 0) deps.logger.info("audit events pruned", { count: pruned, retention_days: deps.auditRetentionDays });
        for (const [what, prune] of Object.entries(deps.prunes ?? {})) {
          const n = await prune();
          if (n > 0) deps.logger.info(`${what} pruned`, { count: n });
        }
      }
    } catch (error) {
      deps.logger.warn("housekeeping failed; will retry", { err: error });
    }
  }

  const timer = setInterval(() => {
    if (!stopped) current = current.then(sweep);
  }, intervalMs);
  return {
    runOnce() {
      current = current.then(sweep);
      return current;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await current;
    },
  };
}
