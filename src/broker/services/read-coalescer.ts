import type { AuditEventInput, AuditLog } from "../domain/ports.ts";
import type { SetTimer } from "./audit-queue.ts";

/** Successful reads of one connection by one caller, between two times. */
export interface Reads {
  readonly connectionId: string;
  readonly providerId?: string;
  readonly providerName?: string;
  /** The caller as the audit log names it. */
  readonly caller?: string;
  readonly agentId?: string;
  /** How many reads (at least 1). */
  readonly count: number;
  /** When the first and the last were answered, in ms. */
  readonly firstMs: number;
  readonly lastMs: number;
}

/** Coalesces successful credential reads into one `token.read` event per connection and caller per window. */
export interface ReadCoalescer {
  /**
   * The audit log for the token use cases: a successful `token.read` is
   * counted here instead of being queued on its own; every other event
   * (failed reads included) goes straight through.
   */
  readonly log: AuditLog;
  /** Counts reads answered elsewhere (a Gateway's cache). */
  add(reads: Reads): void;
  /** Hands every open window to the audit log now, as one event each. */
  flush(): void;
  /** Flushes and stops the timer; later reads go straight to the audit log, uncoalesced. */
  close(): void;
}

/** Dependencies of {@linkcode createReadCoalescer}. */
export interface ReadCoalescerDeps {
  readonly audit: AuditLog;
  readonly now: () => number;
  /** How long reads are gathered before their event is written. @default 1000 */
  readonly windowMs?: number;
  /** Most open (connection, caller) pairs; one more flushes every window at once. @default 20000 */
  readonly maxKeys?: number;
  /** @default setTimeout */
  readonly setTimer?: SetTimer;
}

/**
 * Creates the coalescer. Reading a credential is what agents do all day, and
 * one audit row per read grew the table by about 150 million rows a day at
 * 1,750 reads a second. Every read is still accounted for: the reads of one
 * connection by one caller within a window (a second by default) become one
 * `token.read` event whose `details` say how many (`count`) and when the
 * first and the last were (`first_read_at`, `last_read_at`); the event's time
 * is the last read's. N reads always yield events whose counts add up to N.
 */
export function createReadCoalescer(deps: ReadCoalescerDeps): ReadCoalescer {
  const windowMs = deps.windowMs ?? 1000;
  const maxKeys = deps.maxKeys ?? 20_000;
  const setTimer = deps.setTimer ?? ((fn, ms) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  });
  let open = new Map<string, { reads: Reads; count: number; firstMs: number; lastMs: number }>();
  let cancel: (() => void) | undefined;
  let closed = false;

  function write(reads: Reads, count: number, firstMs: number, lastMs: number): void {
    deps.audit.record({
      eventType: "token.read", outcome: "success", connectionId: reads.connectionId,
      ...(reads.providerId === undefined ? {} : { providerId: reads.providerId }),
      ...(reads.providerName === undefined ? {} : { providerName: reads.providerName }),
      ...(reads.caller === undefined ? {} : { caller: reads.caller }),
      ...(reads.agentId === undefined ? {} : { agentId: reads.agentId }),
      details: { count, first_read_at: new Date(firstMs).toISOString(), last_read_at: new Date(lastMs).toISOString() },
      occurredAt: new Date(lastMs),
    });
  }

  function flush(): void {
    cancel?.();
    cancel = undefined;
    const windows = open;
    open = new Map();
    for (const w of windows.values()) write(w.reads, w.count, w.firstMs, w.lastMs);
  }

  function add(reads: Reads): void {
    if (!(reads.count >= 1)) return;
    if (closed) return write(reads, reads.count, reads.firstMs, reads.lastMs);
    const key = `${reads.connectionId}\n${reads.caller ?? ""}\n${reads.agentId ?? ""}\n${reads.providerId ?? ""}\n${reads.providerName ?? ""}`;
    const window = open.get(key);
    if (window !== undefined) {
      window.count += reads.count;
      window.firstMs = Math.min(window.firstMs, reads.firstMs);
      window.lastMs = Math.max(window.lastMs, reads.lastMs);
      return;
    }
    if (open.size >= maxKeys) flush();
    open.set(key, { reads, count: reads.count, firstMs: reads.firstMs, lastMs: reads.lastMs });
    cancel ??= setTimer(flush, windowMs);
  }

  return {
    log: {
      record(event: AuditEventInput) {
        if (event.eventType !== "token.read" || event.outcome !== "success" || event.connectionId === undefined || event.details !== undefined) {
          deps.audit.record(event);
          return;
        }
        const now = deps.now();
        add({ ...event, connectionId: event.connectionId, count: 1, firstMs: now, lastMs: now });
      },
      recordNow: (event) => deps.audit.recordNow(event),
    },
    add,
    flush,
    close() {
      closed = true;
      flush();
    },
  };
}
