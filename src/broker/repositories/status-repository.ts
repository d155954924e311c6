import type { Sql } from "../db/sql.ts";
import type { StatusStore } from "../domain/ports.ts";

/** The database's side of the Broker's status: migrations and quarantine. */
export function createStatusRepository(sql: Sql): StatusStore {
  return {
    async migrationsApplied() {
      const rows = await sql<{ version: string }[]>`select version from schema_migrations order by version`;
      return rows.map((r) => r.version);
    },
    async quarantinedRows() {
      const [row] = await sql<{ n: number }[]>`select count(*)::int as n from vault_quarantine`;
      return row?.n ?? 0;
    },
  };
}
