import type { QuarantineStore } from "../domain/ports.ts";
import type { Sql } from "../db/sql.ts";

/** The `vault_quarantine` table: rows rewrap could not open, named but never copied. */
export function createVaultQuarantineRepository(sql: Sql): QuarantineStore {
  return {
    async record(rows) {
      for (const r of rows) {
        await sql`insert into vault_quarantine (kind, row_id, key_id, reason, detail)
          values (${r.kind}, ${r.rowId}, ${r.keyId}, ${r.reason}, ${r.detail})
          on conflict (kind, row_id) do update
            set key_id = excluded.key_id, reason = excluded.reason, detail = excluded.detail, detected_at = now()`;
      }
    },
    async prune(active) {
      // A row is fixed once it is gone (connection revoked, handshake expired) or under the
      // active key (rewrapped after all, or its secret entered again).
      const rows = await sql`delete from vault_quarantine q where
        (q.kind = 'provider_client_secret' and not exists (select 1 from providers p
          where p.id::text = q.row_id and p.key_id is not null and p.key_id <> ${active}))
        or (q.kind = 'credential' and not exists (select 1 from credentials c
          where c.connection_id::text = q.row_id and c.key_id <> ${active}))
        or (q.kind = 'handshake_verifier' and not exists (select 1 from handshakes h
          where h.id::text = q.row_id and h.key_id is not null and h.key_id <> ${active}))
        or (q.kind = 'session_signing_key' and not exists (select 1 from session_signing_keys k
          where k.kid = q.row_id and k.key_id <> ${active}))
        returning 1`;
      return rows.length;
    },
  };
}
