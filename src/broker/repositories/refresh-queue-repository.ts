import type { Sql } from "../db/sql.ts";
import type { CredentialRecord } from "../domain/connection.ts";
import type { RefreshQueue } from "../domain/ports.ts";

/**
 * The due queue in PostgreSQL. Claims use FOR UPDATE SKIP LOCKED, so Brokers
 * never claim the same credential; the lease on the row (owner and expiry)
 * then stands for the claim, and no transaction stays open while the provider
 * is called. A lease that lapses (its Broker died) makes the row claimable again.
 */
export function createRefreshQueueRepository(sql: Sql): RefreshQueue {
  return {
    async claimDue(owner, limit, leaseSeconds) {
      const rows = await sql<(CredentialRecord & { providerId: string })[]>`
        update credentials c set lease_owner = ${owner}, lease_until = now() + make_interval(secs => ${leaseSeconds})
        from (
          select k.connection_id, cn.provider_id from credentials k join connections cn on cn.id = k.connection_id
          where k.refresh_due_at <= now() and cn.status = 'active'
            and (k.next_attempt_at is null or k.next_attempt_at <= now())
            and (k.lease_until is null or k.lease_until < now())
          order by k.refresh_due_at
          limit ${limit}
          for update of k skip locked
        ) due
        where c.connection_id = due.connection_id
        returning c.*, due.provider_id`;
      // The claim returns the whole row, so a refresh needs no further read before calling the provider.
      return rows.map(({ providerId, ...record }) => ({ record, providerId }));
    },
    async secondsUntilNextDue() {
      const [row] = await sql<{ seconds: number | null }[]>`
        select extract(epoch from min(greatest(refresh_due_at, coalesce(next_attempt_at, refresh_due_at), coalesce(lease_until, refresh_due_at))) - now())::float8 as seconds
        from credentials where refresh_due_at is not null`;
      return row?.seconds ?? undefined;
    },
    async onWake(wake) {
      const { unlisten } = await sql.listen("nexus_refresh", () => wake(), () => wake());
      return unlisten;
    },
  };
}
