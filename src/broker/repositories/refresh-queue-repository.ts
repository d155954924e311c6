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
    async claimDue(lease, limit) {
      const rows = await sql<(CredentialRecord & { providerId: string; interrupted: boolean })[]>`
        update credentials c set lease_owner = ${lease.owner}, lease_id = ${lease.id},
            lease_until = now() + make_interval(secs => ${lease.seconds}), rotation_started_at = now()
        from (
          select k.connection_id, cn.provider_id, k.rotation_started_at is not null as interrupted
          from credentials k join connections cn on cn.id = k.connection_id
          where k.refresh_due_at <= now() and cn.status = 'active'
            and (k.next_attempt_at is null or k.next_attempt_at <= now())
            and (k.lease_until is null or k.lease_until < now())
          order by k.refresh_due_at
          limit ${limit}
          for update of k skip locked
        ) due
        where c.connection_id = due.connection_id
        returning c.*, due.provider_id, due.interrupted`;
      // The claim returns the whole row, so a refresh needs no further read before calling the provider.
      return rows.map(({ providerId, interrupted, ...record }) => ({ record, providerId, interrupted, lease: { id: lease.id, owner: lease.owner } }));
    },
    async releaseAll(lease) {
      await sql`update credentials set lease_owner = null, lease_id = null, lease_until = null, rotation_started_at = null
        where lease_id = ${lease.id}`;
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
