import type { Sql } from "../db/sql.ts";
import type { CredentialChangeFeed } from "../domain/ports.ts";
import { inputPatterns } from "../../shared/input-rules.ts";

const channel = "nexus_credentials";
const pingPrefix = "ping:";
const agentPrefix = "agent:";
const uuid = inputPatterns.uuid;

/**
 * Credential changes over PostgreSQL LISTEN/NOTIFY: the triggers of
 * sql/004_credential_changes.sql send a connection id, or "*" when a provider
 * changed, and those of sql/007_agents.sql "agent:<id>" when an agent changed; heartbeats travel the same channel, so a pong proves that this
 * very subscription still receives what was sent before it.
 */
export function createCredentialChangeFeed(sql: Sql): CredentialChangeFeed {
  return {
    async subscribe(handlers) {
      const { unlisten } = await sql.listen(channel, (payload) => {
        if (payload.startsWith(pingPrefix)) handlers.pong(payload.slice(pingPrefix.length));
        else if (payload.startsWith(agentPrefix) && uuid.test(payload.slice(agentPrefix.length))) handlers.agentChanged(payload.slice(agentPrefix.length));
        else if (uuid.test(payload)) handlers.changed(payload);
        // "*" and anything unforeseen: forgetting everything is always safe.
        else handlers.changed(undefined);
      }, () => handlers.listening());
      return unlisten;
    },
    async ping(token) {
      await sql`select pg_notify(${channel}, ${pingPrefix + token})`;
    },
  };
}
