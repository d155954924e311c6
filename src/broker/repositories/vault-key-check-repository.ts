import type { KeyCheckStore } from "../domain/ports.ts";
import type { Sql } from "../db/sql.ts";

/** The `vault_key_checks` table: one check value per key id, first writer wins. */
export function createVaultKeyCheckRepository(sql: Sql): KeyCheckStore {
  const get = async (keyId: string) => {
    const [row] = await sql<{ checkValue: string }[]>`select check_value from vault_key_checks where key_id = ${keyId}`;
    return row?.checkValue;
  };
  return {
    get,
    async putIfAbsent(keyId, checkValue) {
      await sql`insert into vault_key_checks (key_id, check_value) values (${keyId}, ${checkValue}) on conflict (key_id) do nothing`;
      // Read in a statement of its own: under READ COMMITTED it sees the row of a
      // process whose insert won the race, which the insert's own snapshot would not.
      const stored = await get(keyId);
      if (stored === undefined) throw new Error(`vault_key_checks has no row for key "${keyId}" right after inserting one`);
      return stored;
    },
  };
}
