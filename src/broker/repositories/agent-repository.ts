import { NexusError } from "../../shared/errors.ts";
import type { Sql } from "../db/sql.ts";
import type { Agent } from "../domain/agent.ts";
import type { AgentStore, AssertionLedger } from "../domain/ports.ts";
import type { JsonObject } from "../domain/provider.ts";

const columns = "id, name, description, allowed_providers, jwks, key_digest, created_at, updated_at, disabled_at, version";

/** Registered agents in PostgreSQL: `agents`. */
export function createAgentRepository(sql: Sql): AgentStore {
  const one = async (rows: Promise<Agent[]>) => (await rows)[0];
  return {
    async create(a) {
      try {
        return (await one(sql<Agent[]>`insert into agents (id, name, description, allowed_providers, jwks, key_digest)
          values (${a.id}, ${a.name}, ${a.description}, ${[...a.allowedProviders]}, ${jsonOrNull(sql, a.jwks)}, ${a.keyDigest})
          returning ${sql.unsafe(columns)}`))!;
      } catch (error) {
        if ((error as { code?: string }).code === "23505") {
          throw new NexusError("name_taken", `an agent named "${a.name}" exists already`, { field: "agent.name" });
        }
        throw error;
      }
    },
    list: () => sql<Agent[]>`select ${sql.unsafe(columns)} from agents order by created_at desc, id`,
    get: (id) => one(sql<Agent[]>`select ${sql.unsafe(columns)} from agents where id = ${id}`),
    update(id, c, expectedVersion) {
      return one(sql<Agent[]>`update agents set
          description = ${c.description === undefined ? sql`description` : sql`${c.description}`},
          allowed_providers = ${c.allowedProviders === undefined ? sql`allowed_providers` : sql`${[...c.allowedProviders]}`},
          jwks = ${c.jwks === undefined ? sql`jwks` : jsonOrNull(sql, c.jwks)},
          updated_at = now(), version = version + 1
        where id = ${id} and disabled_at is null and version = ${expectedVersion.toString()} returning ${sql.unsafe(columns)}`);
    },
    setKeyDigest(id, keyDigest) {
      return one(sql<Agent[]>`update agents set key_digest = ${keyDigest}, updated_at = now(), version = version + 1
        where id = ${id} and disabled_at is null returning ${sql.unsafe(columns)}`);
    },
    async disable(id) {
      // Idempotent: disabling a disabled agent changes nothing and answers it as it is.
      return (await one(sql<Agent[]>`update agents set disabled_at = now(), updated_at = now(), version = version + 1
        where id = ${id} and disabled_at is null returning ${sql.unsafe(columns)}`)) ??
        one(sql<Agent[]>`select ${sql.unsafe(columns)} from agents where id = ${id}`);
    },
  };
}

/** Assertion ids in PostgreSQL: `agent_assertions_seen`, so a replay is caught whichever Gateway it reaches. */
export function createAssertionLedger(sql: Sql): AssertionLedger {
  return {
    async remember(agentId, jti, expiresAt) {
      const rows = await sql`insert into agent_assertions_seen (agent_id, jti, expires_at) values (${agentId}, ${jti}, ${expiresAt})
        on conflict do nothing returning jti`;
      return rows.length === 1;
    },
  };
}

function jsonOrNull(sql: Sql, value: JsonObject | null) {
  return value === null ? sql`null` : sql`${sql.json(value)}`;
}
