import type { Sql } from "../db/sql.ts";
import { type ConnectionStatus, connectionStatuses } from "../domain/connection.ts";
import type { HousekeepingStore } from "../domain/ports.ts";

/** Lifecycle queries: lapsed handshakes, and connection counts for the gauge. */
export function createHousekeepingRepository(sql: Sql): HousekeepingStore {
  return {
    expirePendingConnections() {
      return sql<{ id: string; providerId: string }[]>`
        update connections set status = 'failed', status_reason = 'handshake_expired', pending_until = null,
          updated_at = now(), version = version + 1
        where status = 'pending' and pending_until < now()
        returning id, provider_id`;
    },
    async deleteExpiredHandshakes() {
      const rows = await sql`delete from handshakes where expires_at < now() returning id`;
      return rows.length;
    },
    async deleteExpiredAssertions() {
      const rows = await sql`delete from agent_assertions_seen where expires_at < now() - interval '1 minute' returning jti`;
      return rows.length;
    },
    async countByStatus() {
      const rows = await sql<{ status: ConnectionStatus; n: number }[]>`select status, count(*)::int as n from connections group by status`;
      const counts = Object.fromEntries(connectionStatuses.map((s) => [s, 0])) as Record<ConnectionStatus, number>;
      for (const r of rows) counts[r.status] = r.n;
      return counts;
    },
  };
}
