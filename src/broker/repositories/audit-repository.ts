import type { Sql } from "../db/sql.ts";
import type { AuditEventInput, AuditEventRecord, AuditQuery, AuditStore } from "../domain/ports.ts";
import type { JsonObject } from "../domain/provider.ts";

interface AuditRow {
  id: bigint;
  occurredAt: Date;
  eventType: string;
  connectionId: string | null;
  providerId: string | null;
  providerName: string;
  caller: string;
  agentId: string | null;
  outcome: "success" | "failure";
  reason: string;
  details: JsonObject | null;
}

/**
 * Audit events in PostgreSQL: `audit_events`. The store writes what it is
 * given; sanitising (no secrets, bounded sizes) is the audit service's job.
 */
export function createAuditRepository(sql: Sql): AuditStore {
  return {
    async insertMany(events) {
      if (events.length === 0) return;
      // One statement for the whole batch: a batch is written entirely or not at all.
      await sql`insert into audit_events ${sql(events.map((e) => toColumns(sql, e)))}`;
    },
    async list(query) {
      const rows = await sql<AuditRow[]>`
        select id, occurred_at, event_type, connection_id, provider_id, provider_name, caller, agent_id, outcome, reason, details
        from audit_events
        where ${where(sql, query)}
        order by id desc
        limit ${query.limit}`;
      return rows.map(toRecord);
    },
    async pruneBefore(cutoff, batch) {
      // Bounded batches keep each delete's locks and WAL small on a large table.
      const rows = await sql`
        delete from audit_events where id in (
          select id from audit_events where occurred_at < ${cutoff} limit ${batch}
        ) returning id`;
      return rows.length;
    },
  };
}

function toColumns(sql: Sql, e: AuditEventInput & { readonly occurredAt: Date }) {
  return {
    occurred_at: e.occurredAt,
    event_type: e.eventType,
    connection_id: e.connectionId ?? null,
    provider_id: e.providerId ?? null,
    provider_name: e.providerName ?? "",
    caller: e.caller ?? "",
    agent_id: e.agentId ?? null,
    outcome: e.outcome,
    reason: e.reason ?? "",
    // Typed explicitly so the value is sent as JSON whatever the statement cache holds.
    details: sql.json(e.details ?? {}),
  };
}

/**
 * The filters as one condition. Equality on connection_id or event_type with
 * `order by id desc` matches the (…, id desc) indexes; a time range alone
 * uses audit_events_occurred.
 */
function where(sql: Sql, q: AuditQuery) {
  const conditions = [sql`true`];
  if (q.connectionId !== undefined) conditions.push(sql`connection_id = ${q.connectionId}`);
  if (q.agentId !== undefined) conditions.push(sql`agent_id = ${q.agentId}`);
  if (q.eventType !== undefined) conditions.push(sql`event_type = ${q.eventType}`);
  if (q.since !== undefined) conditions.push(sql`occurred_at >= ${q.since}`);
  if (q.until !== undefined) conditions.push(sql`occurred_at < ${q.until}`);
  if (q.beforeId !== undefined) conditions.push(sql`id < ${q.beforeId.toString()}::bigint`);
  return conditions.reduce((all, c) => sql`${all} and ${c}`);
}

function toRecord(r: AuditRow): AuditEventRecord {
  return { ...r, details: r.details ?? {} };
}
