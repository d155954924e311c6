import type { Logger } from "../../shared/logger.ts";
import type { AuditDropReason, AuditMetrics, AuditStore } from "../domain/ports.ts";
import type { SanitisedAuditEvent } from "./audit-sanitiser.ts";

/** Runs `fn` once after `ms`; returns a function that cancels it. */
export type SetTimer = (fn: () => void, ms: number) => () => void;

/** Dependencies of {@linkcode createAuditQueue}. */
export interface AuditQueueDeps {
  readonly store: Pick<AuditStore, "insertMany">;
  readonly logger: Logger;
  readonly metrics: AuditMetrics;
  /** Most events waiting in memory (AUDIT_QUEUE_MAX_EVENTS); past it new events are dropped and counted. @default 100000 */
  readonly maxQueuedEvents?: number;
  /** How long a recorded event may wait for its batch, and the first retry delay. @default 200 */
  readonly flushIntervalMs?: number;
  /** A batch is written as soon as this many events wait. @default 500 */
  readonly maxBuffer?: number;
  /** Cap of the retry delay, which doubles from `flushIntervalMs` after each failed write. @default 5000 */
  readonly maxRetryDelayMs?: number;
  /** How long close() keeps retrying before it counts what is left as dropped. @default 10000 */
  readonly closeDeadlineMs?: number;
  /** Uniform in [0, 1): retry jitter. @default Math.random */
  readonly random?: () => number;
  /** Schedules flushes, retries and the close deadline (tests drive it). @default setTimeout */
  readonly setTimer?: SetTimer;
}

/** The audit log's write path: an ordered, bounded queue that retries until the database takes it. */
export interface AuditQueue {
  /** Queues an event; never throws, never waits. After close, writes it at once, on a best-effort basis. */
  push(event: SanitisedAuditEvent): void;
  /** Writes an event at once; if that fails, queues it for retry (after close: counts it dropped). Never rejects. */
  writeNow(event: SanitisedAuditEvent): Promise<void>;
  /** Writes what is queued now. Resolves either way: a failed write is retried later, with backoff. */
  flush(): Promise<void>;
  /** Retries until the queue is empty or `deadlineMs` has passed, then counts what is left as dropped. */
  close(deadlineMs?: number): Promise<void>;
}

// Rows per INSERT: 9 parameters each stays far below PostgreSQL's 65535.
const writeBatch = 1000;
const reportIntervalMs = 1000;

/**
 * Creates the audit write queue. A database outage costs nothing while the
 * queue has room: failed writes are retried with capped exponential backoff
 * and jitter, for as long as it takes. Events are written in the order they
 * were queued, and a batch leaves the queue only once its write has landed,
 * so none is written twice. Each lost event (queue full, shutdown, refused
 * by the database) is counted in the metric at once and logged at error with
 * a count, at most one line a second per reason, never one line per event.
 */
export function createAuditQueue(deps: AuditQueueDeps): AuditQueue {
  const { store, logger, metrics } = deps;
  const maxEvents = deps.maxQueuedEvents ?? 100_000;
  const interval = deps.flushIntervalMs ?? 200;
  const maxBuffer = deps.maxBuffer ?? 500;
  const maxDelay = deps.maxRetryDelayMs ?? 5000;
  const random = deps.random ?? Math.random;
  const setTimer = deps.setTimer ?? systemSetTimer;
  if (!Number.isSafeInteger(maxEvents) || maxEvents < 1) throw new RangeError("audit maxQueuedEvents must be a positive integer");

  let queue: SanitisedAuditEvent[] = [];
  // The head of the queue that a write is carrying now; it stays queued until the write lands.
  let inFlight = 0;
  // Events at the head to write one at a time: a batch the database refused holds a bad event somewhere.
  let singles = 0;
  let failures = 0;
  let writing = false;
  let state: "open" | "closing" | "closed" = "open";
  let cancelTimer: (() => void) | undefined;
  let cancelReport: (() => void) | undefined;
  let queuedPass: Promise<void> | undefined;
  let chain: Promise<void> = Promise.resolve();
  let closing: Promise<void> | undefined;
  // Losses counted in the metric but not yet logged, by reason, with the last error that caused them.
  const unreported = new Map<AuditDropReason, { count: number; cause: ReturnType<typeof describe> | undefined }>();

  function drop(reason: AuditDropReason, count: number, cause?: ReturnType<typeof describe>): void {
    metrics.auditEventsDropped(reason, count);
    unreported.set(reason, { count: (unreported.get(reason)?.count ?? 0) + count, cause: cause ?? unreported.get(reason)?.cause });
    // A full queue can drop thousands of events a second: one line a second says how many.
    if (state === "closed") reportDrops();
    else cancelReport ??= setTimer(reportDrops, reportIntervalMs);
  }

  function reportDrops(): void {
    cancelReport?.();
    cancelReport = undefined;
    for (const [reason, { count, cause }] of unreported) {
      logger.error("audit events dropped", { count, reason, max_events: maxEvents, ...cause, hint: "restore the database (DATABASE_URL) or raise AUDIT_QUEUE_MAX_EVENTS; these events are gone" });
    }
    unreported.clear();
  }

  function schedule(ms: number): void {
    if (state !== "open") return;
    cancelTimer?.();
    cancelTimer = setTimer(() => {
      cancelTimer = undefined;
      void flush();
    }, ms);
  }

  /** Equal jitter: half the capped exponential delay, plus up to the other half at random. */
  function retryDelay(): number {
    const delay = Math.min(maxDelay, interval * 2 ** Math.max(0, failures - 1));
    return delay / 2 + (random() * delay) / 2;
  }

  function flush(): Promise<void> {
    cancelTimer?.();
    cancelTimer = undefined;
    // Callers in a burst share one pass; passes run one after another, so batches never overlap.
    if (queuedPass === undefined) {
      queuedPass = chain.then(() => {
        queuedPass = undefined;
        return writePass();
      });
      chain = queuedPass;
    }
    return queuedPass;
  }

  async function writePass(): Promise<void> {
    writing = true;
    try {
      while (queue.length > 0 && (await writeHead())) {
        // Keep going: the queue may hold more than one batch.
      }
    } finally {
      writing = false;
    }
    if (queue.length > 0) schedule(failures > 0 ? retryDelay() : interval);
  }

  /** Writes the batch at the head of the queue; false when the database is unavailable. */
  async function writeHead(): Promise<boolean> {
    const batch = queue.slice(0, singles > 0 ? 1 : writeBatch);
    inFlight = batch.length;
    try {
      await store.insertMany(batch);
    } catch (error) {
      return failed(batch.length, error);
    } finally {
      inFlight = 0;
    }
    queue.splice(0, batch.length);
    singles = Math.max(0, singles - batch.length);
    if (failures > 0) logger.info("audit writes recovered", { failed_attempts: failures, queued: queue.length });
    failures = 0;
    return true;
  }

  function failed(size: number, error: unknown): boolean {
    // Only the error's name and code: a database message can quote the row, and the row is event content.
    const cause = describe(error);
    if (state === "closed") {
      // close() gave up on this write while it was on the wire; it has failed, so its events are lost.
      queue.splice(0, size);
      drop("shutdown", size, cause);
      return false;
    }
    if (isRefusedData(error)) {
      if (size > 1) singles = size;
      else {
        queue.splice(0, 1);
        singles = Math.max(0, singles - 1);
        // A refused event is a bug to fix, not an outage to wait out: the report names the cause.
        drop("rejected", 1, cause);
      }
      return true;
    }
    failures++;
    const fields = { queued: queue.length, attempt: failures, ...cause };
    if (failures === 1) logger.error("audit write failed; retrying until the database is back", { ...fields, hint: "check that PostgreSQL (DATABASE_URL) is up and has disk space" });
    else logger.warn("audit write failed again", fields);
    return false;
  }

  async function drain(deadlineMs: number): Promise<void> {
    let expired = false;
    let wake = () => {};
    const deadline = new Promise<void>((resolve) => (wake = resolve));
    const cancelDeadline = setTimer(() => {
      expired = true;
      wake();
    }, deadlineMs);
    try {
      while (!expired) {
        await Promise.race([flush(), deadline]);
        if (queue.length === 0 || expired) break;
        if (failures === 0) continue;
        let cancelSleep = () => {};
        await Promise.race([new Promise<void>((resolve) => (cancelSleep = setTimer(resolve, retryDelay()))), deadline]);
        cancelSleep();
      }
    } finally {
      cancelDeadline();
    }
    state = "closed";
    // A write still on the wire settles later: failed() counts its events if it fails.
    const left = queue.length - inFlight;
    if (left > 0) {
      queue = queue.slice(0, inFlight);
      drop("shutdown", left);
    }
    reportDrops();
  }

  const lostAfterClose = (error: unknown) => drop("shutdown", 1, describe(error));

  function push(event: SanitisedAuditEvent): void {
    if (state === "closed") {
      store.insertMany([event]).catch(lostAfterClose);
      return;
    }
    if (queue.length >= maxEvents) return drop("queue_full", 1);
    queue.push(event);
    if (state === "closing") return;
    // During an outage only the backoff timer writes: each new event must not be another attempt.
    if (queue.length >= maxBuffer && !writing && failures === 0) void flush();
    else if (cancelTimer === undefined && !writing) schedule(interval);
  }

  return {
    push,
    async writeNow(event) {
      try {
        await store.insertMany([event]);
      } catch (error) {
        if (state === "closed") return lostAfterClose(error);
        // The action it records has already happened; retry the event rather than fail the caller.
        logger.error("audit write failed; event queued for retry", { count: 1, ...describe(error), hint: "check that PostgreSQL (DATABASE_URL) is up and has disk space" });
        push(event);
      }
    },
    flush,
    close(deadlineMs = deps.closeDeadlineMs ?? 10_000) {
      if (!(deadlineMs >= 0 && Number.isFinite(deadlineMs))) throw new RangeError("audit close deadline must be a non-negative number of ms");
      if (closing !== undefined) return closing;
      state = "closing";
      cancelTimer?.();
      cancelTimer = undefined;
      closing = drain(deadlineMs);
      return closing;
    },
  };
}

function systemSetTimer(fn: () => void, ms: number): () => void {
  const timer = setTimeout(fn, ms);
  return () => clearTimeout(timer);
}

/**
 * SQLSTATE classes 22 (data exception) and 23 (integrity constraint): the
 * rows themselves are refused, so retrying the same batch can never succeed.
 * Anything else (connection lost, shutdown in progress, too many clients) is
 * the database being unavailable and is worth retrying.
 */
function isRefusedData(error: unknown): boolean {
  // instrument() turns unstorable text (22021, 22P05) into invalid_argument, keeping the driver's error as cause.
  const code = (error as { code?: unknown } | null)?.code ?? (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  return typeof code === "string" && /^2[23][0-9A-Z]{3}$/.test(code);
}

/** The error's name and code, never its message. (The logger redacts a field named `code`: OAuth codes.) */
function describe(error: unknown): { error: string; error_code?: string } {
  const name = error instanceof Error ? error.name : typeof error;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" || typeof code === "number" ? { error: name, error_code: String(code) } : { error: name };
}
