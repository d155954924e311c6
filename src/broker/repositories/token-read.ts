import type { Sql } from "../db/sql.ts";
import type { Connection, CredentialRecord } from "../domain/connection.ts";
import type { TokenReadRow } from "../domain/ports.ts";
import { type ProviderRow, toProvider } from "./provider-repository.ts";

// Every column of the three tables, each under a prefix, so one row carries all three records. Keep in
// step with the tables (the other repositories read them with `*`): a column missing here is missing
// from the records a token read sees.
const connection = ["id", "workspace_id", "provider_id", "status", "status_reason", "scopes", "granted_scopes", "return_url", "created_by",
  "agent_id", "created_at", "updated_at", "pending_until", "version"];
const provider = ["id", "name", "auth_type", "client_id", "client_secret_ct", "key_id", "issuer", "enable_discovery", "auth_url", "token_url",
  "scopes", "params", "description", "category", "api_base_url", "user_info_endpoint", "created_at", "updated_at", "deleted_at", "version"];
const credential = ["connection_id", "key_id", "secret_ct", "refresh_ct", "expires_at", "version", "refreshed_at", "refresh_due_at", "lease_owner",
  "lease_id", "lease_until", "rotation_started_at", "written_by_lease", "failure_count", "failing_since", "next_attempt_at", "last_error"];
// Columns come back camelCased: c__provider_id arrives as c_providerId.
const columns = [
  ...connection.map((c) => `c.${c} as c__${c}`),
  ...provider.map((c) => `p.${c} as p__${c}`),
  "(select array_agg(a.alias order by a.alias) from provider_aliases a where a.provider_id = p.id) as p__aliases",
  ...credential.map((c) => `k.${c} as k__${c}`),
].join(", ");

/**
 * What a token read needs, in one statement (one round trip): the connection,
 * its provider (deleted or not: its connections keep working) and its sealed
 * credential, if any. Undefined when there is no such connection.
 */
export async function readForToken(sql: Sql, connectionId: string): Promise<TokenReadRow | undefined> {
  const [row] = await sql<Record<string, unknown>[]>`
    select ${sql.unsafe(columns)}
    from connections c join providers p on p.id = c.provider_id
      left join credentials k on k.connection_id = c.id
    where c.id = ${connectionId}`;
  if (row === undefined) return undefined;
  const credentialRow = part(row, "k_") as unknown as CredentialRecord;
  return {
    connection: part(row, "c_") as unknown as Connection,
    provider: toProvider(part(row, "p_") as unknown as ProviderRow),
    credential: credentialRow.connectionId === null ? undefined : credentialRow,
  };
}

function part(row: Record<string, unknown>, prefix: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key in row) {
    if (key.startsWith(prefix)) out[key.slice(prefix.length)] = row[key];
  }
  return out;
}
