import type { Sql } from "../db/sql.ts";
import type { Connection, CredentialRecord, Handshake } from "../domain/connection.ts";
import type { ConnectionStore } from "../domain/ports.ts";
import { readForToken } from "./token-read.ts";

const connectionColumns = "id, workspace_id, provider_id, status, status_reason, scopes, granted_scopes, return_url, created_by, agent_id, created_at, updated_at, pending_until, version";
const handshakeColumns = "id, connection_id, provider_id, kind, key_id, verifier_ct, nonce, issuer, iss_required, redirect_uri, return_url, expires_at, expires_at <= now() as expired";

/** Connections, credentials and handshakes in PostgreSQL. */
export function createConnectionRepository(sql: Sql): ConnectionStore {
  return {
    async start({ connection: c, handshake: h, lifetimeSeconds }) {
      await sql.begin(async (tx) => {
        await tx`insert into connections (id, workspace_id, provider_id, scopes, return_url, created_by, agent_id, pending_until)
          values (${c.id}, ${c.workspaceId}, ${c.providerId}, ${[...c.scopes]}, ${c.returnUrl}, ${c.createdBy}, ${c.agentId},
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
          ${q.agentId === undefined ? sql`` : sql`and agent_id = ${q.agentId}`}
          ${q.before === undefined ? sql`` : sql`and (created_at, id) < (${q.before.createdAt}, ${q.before.id})`}
        order by created_at desc, id desc limit ${q.limit}`;
    },
    async newestActive(workspaceId, providerName, agentId) {
      // A deleted provider's connections keep working, so its name still resolves here.
      const [row] = await sql<Connection[]>`select ${sql.unsafe(connectionColumns.split(", ").map((c) => `c.${c}`).join(", "))}
        from connections c join providers p on p.id = c.provider_id
        where c.workspace_id = ${workspaceId} and c.status = 'active'
          ${agentId === undefined ? sql`` : sql`and c.agent_id = ${agentId}`}
          and (p.name = ${providerName} or p.id in (select provider_id from provider_aliases where alias = ${providerName}))
        order by (p.deleted_at is null) desc, c.created_at desc limit 1`;
      return row;
    },
    async peekHandshake(id) {
      const [row] = await sql<Handshake[]>`select ${sql.unsafe(handshakeColumns)} from handshakes where id = ${id}`;
      return row;
    },
    async consumeHandshake(id, kind) {
      const [row] = await sql<Handshake[]>`delete from handshakes where id = ${id} and kind = ${kind} returning ${sql.unsafe(handshakeColumns)}`;
      return row;
    },
    async activate(connectionId, cred, grantedScopes) {
      return sql.begin(async (tx) => {
        const updated = await tx`update connections set status = 'active', status_reason = '', granted_scopes = ${[...grantedScopes]},
            pending_until = null, updated_at = now(), version = version + 1
          where id = ${connectionId} and status = 'pending' returning id`;
        if (updated.length === 0) return false;
        const life = cred.expiresInSeconds ?? null;
        await tx`insert into credentials (connection_id, key_id, secret_ct, refresh_ct, refreshed_at, expires_at, refresh_due_at)
          values (${connectionId}, ${cred.keyId}, ${cred.secretCt}, ${cred.refreshCt}, now(),
                  ${expiresAtSql(tx as unknown as Sql, life)},
                  ${dueAtSql(tx as unknown as Sql, life, cred.refreshCt, cred.refreshMarginSeconds, cred.minRefreshIntervalSeconds)})`;
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
        await tx`update credentials set refresh_due_at = null, lease_owner = null, lease_id = null, lease_until = null,
            rotation_started_at = null where connection_id = ${connectionId}`;
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
    readForToken: (connectionId) => readForToken(sql, connectionId),
    async storeRefreshed(connectionId, lease, expectedVersion, cred) {
      const life = cred.expiresInSeconds ?? null;
      // A narrowing refresh stored only a rotated refresh token: the access token's schedule is untouched.
      const schedule = cred.keepSchedule === true
        ? sql`refreshed_at = refreshed_at, expires_at = expires_at, refresh_due_at = refresh_due_at`
        : sql`refreshed_at = now(), expires_at = ${expiresAtSql(sql, life)},
              refresh_due_at = ${dueAtSql(sql, life, cred.refreshCt, cred.refreshMarginSeconds, cred.minRefreshIntervalSeconds)}`;
      // One statement, so a refresh costs one round trip: the write, and the revival of a connection a
      // sibling gave up on while these tokens were on their way (the reasons a refused refresh writes).
      const rows = await sql<(CredentialRecord & { revived: boolean })[]>`
        with written as (
          update credentials set key_id = ${cred.keyId}, secret_ct = ${cred.secretCt}, refresh_ct = ${cred.refreshCt},
              version = version + 1, written_by_lease = ${lease.id},
              lease_owner = null, lease_id = null, lease_until = null, rotation_started_at = null,
              failure_count = 0, failing_since = null, next_attempt_at = null, last_error = '',
              ${schedule}
            where connection_id = ${connectionId} and version = ${expectedVersion.toString()}
            returning *
        ), revived as (
          update connections c set status = 'active', status_reason = '', updated_at = now(), version = c.version + 1
            from written w
            where c.id = w.connection_id and c.status = 'attention_required'
              and c.status_reason in ('invalid_grant', 'unauthorized_client', 'rotation_interrupted')
            returning c.id
        )
        select w.*, exists (select 1 from revived) as revived from written w`;
      const row = rows[0];
      if (row === undefined) return undefined;
      const { revived, ...record } = row;
      return { record, revived };
    },
    async claimLease(connectionId, lease) {
      // The subselect reads the row as it was, so the claim can tell whether the mark was already set.
      const [row] = await sql<{ version: bigint; interrupted: boolean }[]>`
        update credentials c set lease_owner = ${lease.owner}, lease_id = ${lease.id},
            lease_until = now() + make_interval(secs => ${lease.seconds}), rotation_started_at = now()
          from (select connection_id, rotation_started_at is not null as interrupted from credentials
                where connection_id = ${connectionId} for update) before
          where c.connection_id = before.connection_id and (c.lease_until is null or c.lease_until < now())
          returning c.version, before.interrupted`;
      return row;
    },
    async releaseLease(connectionId, lease) {
      await sql`update credentials set lease_owner = null, lease_id = null, lease_until = null, rotation_started_at = null
        where connection_id = ${connectionId} and lease_id = ${lease.id}`;
    },
    async recordRefreshFailure(connectionId, lease, failure) {
      const [row] = await sql<{ failureCount: number; failingSince: Date }[]>`update credentials set
          failure_count = failure_count + 1, failing_since = coalesce(failing_since, now()),
          next_attempt_at = now() + make_interval(secs => ${failure.retryInSeconds}), last_error = ${failure.error},
          lease_owner = null, lease_id = null, lease_until = null,
          rotation_started_at = case when ${failure.keepMark} then rotation_started_at else null end
        where connection_id = ${connectionId} and lease_id = ${lease.id}
        returning failure_count, failing_since`;
      return row;
    },
  };
}

/** `now + expires_in` on the database clock; null when the token does not expire. */
function expiresAtSql(sql: Sql, life: number | null) {
  return life === null ? sql`null` : sql`now() + make_interval(secs => ${life}::float8)`;
}

/**
 * When the refresh is due: expiry minus the smaller of the margin and a third of
 * the lifetime, but never sooner than the minimum interval (a provider that says
 * expires_in 0 would otherwise be asked again at once, forever). Never, without
 * a refresh token or an expiry.
 */
function dueAtSql(sql: Sql, life: number | null, refreshCt: string | null, margin: number, minInterval: number) {
  if (life === null || refreshCt === null) return sql`null`;
  return sql`now() + make_interval(secs => greatest(${minInterval}::float8,
    ${life}::float8 - least(${margin}::float8, ${life}::float8 / 3)))`;
}
