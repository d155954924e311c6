import { invalidArgument } from "../../shared/errors.ts";
import { inputLimits, parseUuid } from "../../shared/input-rules.ts";
import type { AuditEventInput, AuditEventRecord, AuditLog, AuditStore } from "../domain/ports.ts";
import { type AuditQueueDeps, createAuditQueue } from "./audit-queue.ts";
import { auditEventTypePattern, sanitiseAuditEvent } from "./audit-sanitiser.ts";

/** Filters of {@linkcode AuditService.list}; absent means no filter. */
export interface AuditListQuery {
  connectionId?: string;
  /** Only events of calls by this registered agent. */
  agentId?: string;
  eventType?: string;
  since?: Date;
  until?: Date;
  /** 1 to 1000. @default 50 */
  limit?: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string;
}

/** The audit log: recording events in batches, reading and pruning them. */
export interface AuditService extends AuditLog {
  /** Events newest first, with an opaque cursor ("" on the last page). */
  list(query: AuditListQuery): Promise<{ events: AuditEventRecord[]; nextCursor: string }>;
  /** Writes what is queued now; resolves either way (a failed write is retried with backoff). */
  flush(): Promise<void>;
  /** Deletes events older than `days`, in batches of 1000, until none are left; returns the count. */
  prune(days: number): Promise<number>;
  /**
   * Stops the timers and keeps retrying the queued events until they are
   * written or `deadlineMs` has passed; what is still unwritten then is
   * counted as dropped (reason `shutdown`) and logged.
   */
  close(options?: { deadlineMs?: number }): Promise<void>;
}

/** Dependencies of {@linkcode createAuditService}: the write queue's, plus the store's reads and the clock. */
export interface AuditServiceDeps extends AuditQueueDeps {
  readonly store: AuditStore;
  /** Stamps each event when it is recorded. */
  readonly now: () => number;
}

const pruneBatch = 1000;
const maxCursorId = 9_223_372_036_854_775_807n;

/**
 * Creates the audit service. record() never throws for storage faults and
 * never waits: the audit log must not take a request down. Events wait in
 * memory for at most `flushIntervalMs` and, through a database outage, for
 * as long as the outage lasts: the write queue (audit-queue.ts) retries with
 * backoff and loses an event only when it is full, at shutdown, or when the
 * database refuses the event itself, and counts each such loss.
 */
export function createAuditService(deps: AuditServiceDeps): AuditService {
  const { store } = deps;
  const queue = createAuditQueue(deps);
  const flush = () => queue.flush();

  return {
    record(event: AuditEventInput) {
      queue.push(sanitiseAuditEvent(event, event.occurredAt ?? new Date(deps.now())));
    },
    async recordNow(event: AuditEventInput) {
      await queue.writeNow(sanitiseAuditEvent(event, event.occurredAt ?? new Date(deps.now())));
    },
    async list(query) {
      const { default: defaultLimit, max } = inputLimits.auditPageSize;
      const limit = query.limit ?? defaultLimit;
      if (!Number.isInteger(limit) || limit < 1 || limit > max) throw invalidArgument("limit", `must be from 1 to ${max}`);
      const connectionId = query.connectionId === undefined ? undefined : parseUuid(query.connectionId, "connection_id");
      const agentId = query.agentId === undefined ? undefined : parseUuid(query.agentId, "agent_id");
      if (query.eventType !== undefined && !auditEventTypePattern.test(query.eventType)) {
        throw invalidArgument("event_type", "must be an event type such as token.read");
      }
      checkDate(query.since, "since");
      checkDate(query.until, "until");
      if (query.since !== undefined && query.until !== undefined && query.since.getTime() >= query.until.getTime()) {
        throw invalidArgument("until", "must be later than since");
      }
      const beforeId = query.cursor === undefined || query.cursor === "" ? undefined : decodeCursor(query.cursor);
      // Read your writes: events recorded a moment ago are part of the answer.
      await flush();
      const rows = await store.list({
        ...(connectionId === undefined ? {} : { connectionId }),
        ...(agentId === undefined ? {} : { agentId }),
        ...(query.eventType === undefined ? {} : { eventType: query.eventType }),
        ...(query.since === undefined ? {} : { since: query.since }),
        ...(query.until === undefined ? {} : { until: query.until }),
        ...(beforeId === undefined ? {} : { beforeId }),
        limit: limit + 1,
      });
      const events = rows.slice(0, limit);
      return { events, nextCursor: rows.length > limit ? encodeCursor(events.at(-1)!.id) : "" };
    },
    flush,
    async prune(days) {
      if (!Number.isFinite(days) || days <= 0) throw new RangeError("audit retention must be a positive number of days");
      const cutoff = new Date(deps.now() - days * 86_400_000);
      let total = 0;
      for (;;) {
        const deleted = await store.pruneBefore(cutoff, pruneBatch);
        total += deleted;
        if (deleted < pruneBatch) return total;
      }
    },
    close: (options) => queue.close(options?.deadlineMs),
  };
}

function checkDate(value: Date | undefined, field: string): void {
  if (value !== undefined && !(value instanceof Date && Number.isFinite(value.getTime()))) {
    throw invalidArgument(field, "must be a valid time");
  }
}

/** The cursor: unpadded base64url of the last id as a decimal string. */
function encodeCursor(id: bigint): string {
  return btoa(id.toString()).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

function decodeCursor(cursor: string): bigint {
  const bad = () => invalidArgument("cursor", "is not a cursor returned by this API");
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(cursor)) throw bad();
  let text: string;
  try {
    text = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    throw bad();
  }
  if (!/^[1-9][0-9]{0,18}$/.test(text)) throw bad();
  const id = BigInt(text);
  if (id > maxCursorId) throw bad();
  return id;
}
