import type { Sql } from "../db/sql.ts";
import type { Connection, CredentialRecord, Handshake } from "../domain/connection.ts";
import type { ConnectionStore, NewCredential } from "../domain/ports.ts";

const connectionColumns = "id, workspace_id, provider_id, status, status_reason, scopes, granted_scopes, return_url, created_by, created_at, updated_at, pending_until, version";
const handshakeColumns = "id, connection_id, provider_id, kind, key_id, verifier_ct, nonce, issuer, iss_required, redirect_uri, return_url, expires_at, expires_at <= now() as expired";

/** Connections, credentials and handshakes in PostgreSQL. */
export function createConnectionRepository(sql: Sql): ConnectionStore {
  return {
    async start({ connection: c, handshake: h, lifetimeSeconds }) {
      await sql.begin(async (tx) => {
        await tx`insert into connections (id, workspace_id, provider_id, scopes, return_url, created_by, pending_until)
          values (${c.id}, ${c.workspaceId}, ${c.providerId}, ${[...c.scopes]}, ${c.returnUrl}, ${c.createdBy},
                  now() + make_interval(secs => ${lifetimeSeconds}))`;
        await tx`insert into handshakes (id, connection_id, provider_id, kind, key_id, verifier_ct, nonce, issuer, iss_required,
                   redirect_uri, return_url, expires_at)
          values (${h.id}, ${c.id}, ${c.providerId}, ${h.kind}, ${h.verifier?.keyId ?? null}, ${h.verifier?.ciphertext ?? null},
                  ${h.nonce}, ${h.issuer}, ${h.issRequired}, ${h.redirectUri}, ${c.returnUrl},
                  now() + make_interval(secs => ${lifetimeSeconds}))`;
      });
    },
    async get(id) {
      const [row] = await sql<Connection[]>`select ${sql.unsafe(connectionColumns)} from connections where id = ${id}`;
      return row;
    },
    async list(q) {
      return sql<Connection[]>`select ${sql.unsafe(connectionColumns)} from connections
        where true
          ${q.workspaceId === undefined ? sql`` : sql`and workspace_id = ${q.workspaceId}`}
          ${q.providerId === undefined ? sql`` : sql`and provider_id = ${q.providerId}`}
          ${q.status === undefined ? sql`` : sql`and status = ${q.status}`}
          ${q.before === undefined ? sql`` : sql`and (created_at, id) < (${q.before.createdAt}, ${q.before.id})`}
        order by created_at desc, id desc limit ${q.limit}`;
    },
    async newestActive(workspaceId, providerName) {
      // A deleted provider's connections keep working, so its name still resolves here.
      const [row] = await sql<Connection[]>`select ${sql.unsafe(connectionColumns.split(", ").map((c) => `c.${c}`).join(", "))}
        from connections c join providers p on p.id = c.provider_id
        where c.workspace_id = ${workspaceId} and c.status = 'active'
          and (p.name = ${providerName} or p.id in (select provider_id from provider_aliases where alias = ${providerName}))
        order by (p.deleted_at is null) desc, c.created_at desc limit 1`;
      return row;
    },
    async peekHandshake(id) {
      const [row] = await sql<Handshake[]>`select ${sql.unsafe(handshakeColumns)} from handshakes where id = ${id}`;
      return row;
    },
    async consumeHandshake(id) {
      const [row] = await sql<Handshake[]>`delete from handshakes where id = ${id} returning ${sql.unsafe(handshakeColumns)}`;
      return row;
    },
    async activate(connectionId, cred, grantedScopes) {
      return sql.begin(async (tx) => {
        const updated = await tx`update connections set status = 'active', status_reason = '', granted_scopes = ${[...grantedScopes]},
            pending_until = null, updated_at = now(), version = version + 1
          where id = ${connectionId} and status = 'pending' returning id`;
        if (updated.length === 0) return false;
        await tx`insert into credentials ${tx(credentialColumns(connectionId, cred))}
          on conflict (connection_id) do update set key_id = excluded.key_id, secret_ct = excluded.secret_ct,
            refresh_ct = excluded.refresh_ct, expires_at = excluded.expires_at, refresh_due_at = excluded.refresh_due_at,
            refreshed_at = excluded.refreshed_at, version = credentials.version + 1`;
        await setTimes(tx as unknown as Sql, connectionId, cred);
        return true;
      });
    },
    async fail(connectionId, reason) {
      const rows = await sql`update connections set status = 'failed', status_reason = ${reason}, pending_until = null,
          updated_at = now(), version = version + 1
        where id = ${connectionId} and status = 'pending' returning id`;
      return rows.length > 0;
    },
    async requireAttention(connectionId, reason, credentialVersion) {
      return sql.begin(async (tx) => {
        const rows = await tx`update connections c set status = 'attention_required', status_reason = ${reason},
            updated_at = now(), version = c.version + 1
          from credentials k
          where c.id = ${connectionId} and c.status = 'active' and k.connection_id = c.id and k.version = ${credentialVersion.toString()}
          returning c.id`;
        if (rows.length === 0) return false;
        // Nothing refreshes a connection that needs the user; the lease columns go quiet.
        await tx`update credentials set refresh_due_at = null, lease_owner = null, lease_until = null where connection_id = ${connectionId}`;
        return true;
      });
    },
    async revoke(connectionId) {
      return sql.begin(async (tx) => {
        await tx`delete from credentials where connection_id = ${connectionId}`;
        await tx`delete from handshakes where connection_id = ${connectionId}`;
        const [row] = await tx<Connection[]>`update connections set status = 'revoked', status_reason = '', pending_until = null,
            updated_at = now(), version = version + 1
          where id = ${connectionId} returning ${tx.unsafe(connectionColumns)}`;
        return row;
      });
    },
    async getCredential(connectionId) {
      const [row] = await sql<CredentialRecord[]>`select * from credentials where connection_id = ${connectionId}`;
      return row;
    },
    async replaceCredential(connectionId, expectedVersion, cred) {
      return sql.begin(async (tx) => {
        const rows = await tx`update credentials set key_id = ${cred.keyId}, secret_ct = ${cred.secretCt}, refresh_ct = ${cred.refreshCt},
            refreshed_at = now(), version = version + 1, lease_owner = null, lease_until = null,
            failure_count = 0, failing_since = null, next_attempt_at = null, last_error = ''
          where connection_id = ${connectionId} and version = ${expectedVersion.toString()} returning connection_id`;
        if (rows.length === 0) return false;
        await setTimes(tx as unknown as Sql, connectionId, cred);
        return true;
      });
    },
  };
}

function credentialColumns(connectionId: string, c: NewCredential) {
  return { connection_id: connectionId, key_id: c.keyId, secret_ct: c.secretCt, refresh_ct: c.refreshCt };
}

/**
 * Expiry and refresh due time on the database clock: expires_at = now +
 * expires_in; due = expires_at minus the smaller of the margin and a third of
 * the lifetime. No refresh token, or no expiry, means never due.
 */
async function setTimes(tx: Sql, connectionId: string, c: NewCredential): Promise<void> {
  const lifetime = c.expiresInSeconds ?? null;
  await tx`update credentials set
      refreshed_at = now(),
      expires_at = case when ${lifetime}::float8 is null then null else now() + make_interval(secs => ${lifetime}::float8) end,
      refresh_due_at = case when ${lifetime}::float8 is null or refresh_ct is null then null
        else now() + make_interval(secs => ${lifetime}::float8 - least(${c.refreshMarginSeconds}::float8, ${lifetime}::float8 / 3)) end
    where connection_id = ${connectionId}`;
}
