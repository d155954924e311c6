import { invalidArgument } from "../../shared/errors.ts";
import type { Logger } from "../../shared/logger.ts";
import { parseUuid } from "../domain/input-rules.ts";
import type { AuditEventInput, AuditEventRecord, AuditLog, AuditStore } from "../domain/ports.ts";
import { auditEventTypePattern, type SanitisedAuditEvent, sanitiseAuditEvent } from "./audit-sanitiser.ts";

/** Filters of {@linkcode AuditService.list}; absent means no filter. */
export interface AuditListQuery {
  connectionId?: string;
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
  /** Writes what is queued. */
  flush(): Promise<void>;
  /** Deletes events older than `days`, in batches of 1000, until none are left; returns the count. */
  prune(days: number): Promise<number>;
  /** Flushes and stops the timer. */
  close(): Promise<void>;
}

/** Dependencies of {@linkcode createAuditService}. */
export interface AuditServiceDeps {
  store: AuditStore;
  now: () => number;
  logger: Logger;
  /** How long a recorded event may wait for its batch. @default 200 */
  flushIntervalMs?: number;
  /** A batch is written as soon as this many events wait. @default 500 */
  maxBuffer?: number;
}

interface Pending {
  readonly event: SanitisedAuditEvent;
  /** Failed writes so far; an event is dropped after `maxAttempts`. */
  readonly failures: number;
}

const pruneBatch = 1000;
// With delays doubling from the flush interval up to 5 s, about 20 s of database outage loses nothing.
const maxAttempts = 8;
const maxRetryDelayMs = 5000;
// Rows per INSERT: 9 parameters each stays far below PostgreSQL's 65535.
const writeBatch = 1000;
const maxCursorId = 9_223_372_036_854_775_807n;

/**
 * Creates the audit service. record() never throws for storage faults and
 * never waits: the audit log must not take a request down. Events wait in
 * memory for at most `flushIntervalMs`; the queue is bounded so a database
 * outage costs dropped events (logged), never the process's memory.
 */
export function createAuditService(deps: AuditServiceDeps): AuditService {
  const { store, logger } = deps;
  const interval = deps.flushIntervalMs ?? 200;
  const maxBuffer = deps.maxBuffer ?? 500;
  const maxQueued = Math.max(maxBuffer * 10, writeBatch);
  let queue: Pending[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let writing = false;
  let closed = false;
  let overflow = 0;
  let consecutiveFailures = 0;
  // Flushes run one after another, so a retried event keeps its order and no batch is written twice.
  let chain: Promise<void> = Promise.resolve();

  function enqueue(pending: Pending): void {
    if (queue.length >= maxQueued) {
      overflow++;
      return;
    }
    queue.push(pending);
    if (queue.length >= maxBuffer && !writing) void flush();
    else if (timer === undefined && !closed) timer = setTimeout(onTimer, interval);
  }

  function onTimer(): void {
    timer = undefined;
    void flush();
  }

  function flush(): Promise<void> {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    chain = chain.then(writeQueued);
    return chain;
  }

  async function writeQueued(): Promise<void> {
    if (overflow > 0) {
      logger.error("audit queue full; events dropped", { count: overflow });
      overflow = 0;
    }
    writing = true;
    try {
      while (queue.length > 0) {
        const batch = queue.slice(0, writeBatch);
        queue = queue.slice(batch.length);
        try {
          await store.insertMany(batch.map((p) => p.event));
          consecutiveFailures = 0;
        } catch (error) {
          consecutiveFailures++;
          failed(batch, error);
          // The retries wait for the next flush; this one is done.
          break;
        }
      }
    } finally {
      writing = false;
    }
    if (queue.length > 0 && timer === undefined && !closed) {
      timer = setTimeout(onTimer, Math.min(interval * 2 ** consecutiveFailures, maxRetryDelayMs));
    }
  }

  function failed(batch: readonly Pending[], error: unknown): void {
    const retry = batch.filter((p) => p.failures + 1 < maxAttempts).map((p) => ({ event: p.event, failures: p.failures + 1 }));
    const dropped = batch.length - retry.length;
    // Only the error's name and code: a database message can quote the row, and the row is event content.
    const cause = describe(error);
    logger.error("audit batch write failed", { count: batch.length, retrying: retry.length, ...cause });
    if (dropped > 0) logger.error("audit events dropped after repeated failed writes", { count: dropped, attempts: maxAttempts, ...cause });
    queue = [...retry, ...queue];
  }

  return {
    record(event: AuditEventInput) {
      const pending = { event: sanitiseAuditEvent(event, new Date(deps.now())), failures: 0 };
      if (!closed) return enqueue(pending);
      // After close nothing flushes the queue again: write at once, on a best-effort basis.
      store.insertMany([pending.event]).catch((error: unknown) => {
        logger.error("audit write after close failed", { count: 1, ...describe(error) });
      });
    },
    async recordNow(event: AuditEventInput) {
      const clean = sanitiseAuditEvent(event, new Date(deps.now()));
      try {
        await store.insertMany([clean]);
      } catch (error) {
        // The action it records has already happened; queue the event for the retry rather than fail the caller.
        logger.error("audit write failed", { count: 1, retrying: 1, ...describe(error) });
        enqueue({ event: clean, failures: 1 });
      }
    },
    async list(query) {
      const limit = query.limit ?? 50;
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw invalidArgument("limit", "must be from 1 to 1000");
      const connectionId = query.connectionId === undefined ? undefined : parseUuid(query.connectionId, "connection_id");
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
    async close() {
      closed = true;
      await flush();
    },
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

function describe(error: unknown): { error: string; code?: string } {
  const name = error instanceof Error ? error.name : typeof error;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" || typeof code === "number" ? { error: name, code: String(code) } : { error: name };
}
