import type { Sql } from "../db/sql.ts";
import type { Session } from "../domain/session.ts";
import type { SessionStore, SigningKeyStore, StoredSigningKey } from "../domain/ports.ts";

const columns = "id, connection_id, workspace_id, agent_id, delegated_by_agent, delegated_by, parent_id, scopes, allowed_hosts, act, created_at, expires_at, revoked_at";
const prefixed = columns.split(", ").map((c) => `s.${c}`).join(", ");

/** Sessions in PostgreSQL: `sessions`. */
export function createSessionRepository(sql: Sql): SessionStore {
  return {
    async create(s) {
      const [row] = await sql<Session[]>`insert into sessions (id, connection_id, workspace_id, agent_id, delegated_by_agent, delegated_by,
          parent_id, scopes, allowed_hosts, act, expires_at)
        values (${s.id}, ${s.connectionId}, ${s.workspaceId}, ${s.agentId}, ${s.delegatedByAgent}, ${s.delegatedBy},
          ${s.parentId}, ${[...s.scopes]}, ${[...s.allowedHosts]}, ${sql.json(s.act as never)}, ${s.expiresAt})
        returning ${sql.unsafe(columns)}`;
      return row!;
    },
    chain(id) {
      // Recursive up the parents: one round trip for the whole chain, checked on every exchange.
      return sql<Session[]>`with recursive up as (
          select ${sql.unsafe(columns)}, 0 as depth from sessions where id = ${id}
          union all
          select ${sql.unsafe(prefixed)}, up.depth + 1 from sessions s join up on s.id = up.parent_id where up.depth < 32
        ) select ${sql.unsafe(columns)} from up order by depth`;
    },
    list(q) {
      return sql<Session[]>`select ${sql.unsafe(columns)} from sessions where true
        ${q.agentId === undefined ? sql`` : sql`and (agent_id = ${q.agentId} or delegated_by_agent = ${q.agentId})`}
        ${q.connectionId === undefined ? sql`` : sql`and connection_id = ${q.connectionId}`}
        ${q.before === undefined ? sql`` : sql`and (created_at, id) < (${q.before.createdAt}, ${q.before.id})`}
        order by created_at desc, id desc limit ${q.limit}`;
    },
    heldBy(agentId, connectionId) {
      return sql<Session[]>`select ${sql.unsafe(columns)} from sessions
        where agent_id = ${agentId} and connection_id = ${connectionId} and revoked_at is null and expires_at > now()
        order by created_at desc limit 20`;
    },
    async revoke(id) {
      const rows = await sql`with recursive down as (
          select id from sessions where id = ${id}
          union all
          select s.id from sessions s join down on s.parent_id = down.id
        ) update sessions set revoked_at = now() where id in (select id from down) and revoked_at is null returning id`;
      return rows.length;
    },
    async pruneBefore(cutoff) {
      const rows = await sql`delete from sessions where id in (
          select id from sessions where coalesce(revoked_at, expires_at) < ${cutoff} limit 1000
        ) returning id`;
      return rows.length;
    },
  };
}

/** Session signing keys in PostgreSQL: `session_signing_keys`. */
export function createSigningKeyRepository(sql: Sql): SigningKeyStore {
  const list = () => sql<StoredSigningKey[]>`select kid, alg, public_jwk, key_id, private_jwk_ct, created_at
    from session_signing_keys order by created_at desc, kid desc`;
  return {
    list,
    async insertIfStale(key, maxAgeSeconds) {
      await sql.begin(async (tx) => {
        // One lock for every Broker: two starting at once must not both make a key.
        await tx`select pg_advisory_xact_lock(7463901)`;
        const [fresh] = await tx`select 1 from session_signing_keys
          where created_at > now() - make_interval(secs => ${maxAgeSeconds}) limit 1`;
        if (fresh !== undefined && maxAgeSeconds > 0) return;
        await tx`insert into session_signing_keys (kid, alg, public_jwk, key_id, private_jwk_ct)
          values (${key.kid}, ${key.alg}, ${tx.json(key.publicJwk as never)}, ${key.keyId}, ${key.privateJwkCt})`;
      });
      return (await list())[0]!;
    },
    async pruneRetired(retainSeconds) {
      // A key is retired once a newer one exists; kept while tokens it signed may be live.
      const rows = await sql`delete from session_signing_keys k where exists (
          select 1 from session_signing_keys n where n.created_at > k.created_at
            and n.created_at < now() - make_interval(secs => ${retainSeconds})
        ) returning kid`;
      return rows.length;
    },
  };
}
