import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { CachedReadsSchema } from "../../gen/nexus/broker/v1/token_cache_service_pb.ts";
import type { Logger } from "../shared/logger.ts";
import type { ReadAudit } from "./token-answer-cache.ts";

/** Why reads answered from the cache were never reported. */
export type ReadDropReason = "queue_full" | "shutdown";

/** Dependencies of {@linkcode createCachedReadReporter}. */
export interface CachedReadReporterDeps {
  /** Sends one batch (TokenCacheService.RecordCachedReads); rejects when the Broker did not take it or `signal` aborted. */
  readonly send: (reads: MessageInitShape<typeof CachedReadsSchema>[], signal: AbortSignal) => Promise<void>;
  readonly now: () => number;
  readonly logger: Logger;
  /** Counts reads that were never reported. */
  readonly dropped: (reason: ReadDropReason, count: number) => void;
  /** How long reads are gathered before a report. @default 1000 */
  readonly flushMs?: number;
  /** Most (connection, caller) pairs waiting; reads of a new pair past it are dropped and counted. @default 50000 */
  readonly maxPending?: number;
  /** Schedules reports and retries; returns a cancel function. @default setTimeout */
  readonly setTimer?: (fn: () => void, ms: number) => () => void;
}

/** Reports the reads the Gateway answers from its cache, so the Broker's audit log accounts for every read. */
export interface CachedReadReporter {
  /** Counts one read answered from the cache now (`read` is the cached answer's own record). Never waits, never throws. */
  record(read: ReadAudit): void;
  /** Reports what is pending now; resolves either way (a failed report is retried). */
  flush(): Promise<void>;
  /** Reports until nothing is pending or `deadlineMs` has passed; what is left is counted as dropped (`shutdown`). */
  close(deadlineMs: number): Promise<void>;
}

interface Pending {
  readonly read: ReadAudit;
  count: number;
  firstMs: number;
  lastMs: number;
}

// The Broker takes at most this many entries per request.
const batchSize = 10_000;

/**
 * Creates the reporter. Reads of one connection by one caller are counted
 * together, with the first and the last time, and sent to the Broker once a
 * second (RecordCachedReads), where they join the same coalesced `token.read`
 * events as the reads the Broker answered itself. While the Broker is
 * unreachable the counts are kept and the report retried with backoff; what
 * does not fit (`maxPending`) or is still unsent when the Gateway stops is
 * counted in a metric and logged, never lost silently.
 */
export function createCachedReadReporter(deps: CachedReadReporterDeps): CachedReadReporter {
  const flushMs = deps.flushMs ?? 1000;
  const maxPending = deps.maxPending ?? 50_000;
  const setTimer = deps.setTimer ?? ((fn, ms) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  });
  // Keyed by the cached answer's audit record itself: every hit of one answer shares it, so counting a hit
  // allocates nothing (a key string per hit was a large part of the Gateway's garbage under load).
  let pending = new Map<ReadAudit, Pending>();
  let cancel: (() => void) | undefined;
  let sending: Promise<void> | undefined;
  let failures = 0;
  let closed = false;
  // Aborted when close() gives up: a report still on the wire then fails, and its reads count as dropped.
  const giveUp = new AbortController();

  function add(key: ReadAudit, p: Pending): boolean {
    const known = pending.get(key);
    if (known !== undefined) {
      known.count += p.count;
      known.firstMs = Math.min(known.firstMs, p.firstMs);
      known.lastMs = Math.max(known.lastMs, p.lastMs);
      return true;
    }
    if (pending.size >= maxPending) return false;
    pending.set(key, p);
    return true;
  }

  function schedule(ms: number): void {
    if (closed || cancel !== undefined) return;
    cancel = setTimer(() => {
      cancel = undefined;
      void flush();
    }, ms);
  }

  async function sendPending(): Promise<void> {
    const batch = pending;
    pending = new Map();
    const entries = [...batch.entries()];
    for (let i = 0; i < entries.length; i += batchSize) {
      const slice = entries.slice(i, i + batchSize);
      try {
        await deps.send(slice.map(([, p]) => ({
          connectionId: p.read.connectionId, providerId: p.read.providerId, providerName: p.read.providerName,
          caller: p.read.caller, agentId: p.read.agentId, count: BigInt(p.count),
          firstTime: timestampFromMs(p.firstMs), lastTime: timestampFromMs(p.lastMs),
        })), giveUp.signal);
      } catch (error) {
        // Kept for the next attempt, merged with what came meanwhile. (A report the Broker took but whose
        // answer was lost is sent again: a read may be counted twice, never not at all.)
        let lost = 0;
        for (const [key, p] of entries.slice(i)) if (!add(key, p)) lost += p.count;
        if (lost > 0) deps.dropped("queue_full", lost);
        failures++;
        if (failures === 1) deps.logger.warn("cannot report cached reads to the Broker; retrying", { error: String(error), pending: pending.size });
        return;
      }
    }
    if (failures > 0) deps.logger.info("cached reads reported again", { failed_attempts: failures });
    failures = 0;
  }

  /**
   * Sends what is pending now, once: reads that come in meanwhile wait for the next timer, so under steady load
   * the Broker gets one report per `flushMs`, not one after another as fast as they are answered.
   */
  function flush(): Promise<void> {
    cancel?.();
    cancel = undefined;
    if (sending !== undefined) return sending;
    if (pending.size === 0) return Promise.resolve();
    // Cleared by a `.finally` callback, which never runs before `sending` is set (clearing it inside the send
    // could leave a settled promise behind, which every later flush would return without sending anything).
    const run: Promise<void> = sendPending()
      .catch((error: unknown) => deps.logger.error("reporting cached reads failed", { err: error, hint: "a fault in the Gateway: the reads of that report may be missing from the audit log" }))
      .finally(() => {
        sending = undefined;
        if (pending.size > 0) schedule(Math.min(flushMs * 2 ** failures, 10_000));
      });
    sending = run;
    return run;
  }

  return {
    record(read) {
      const now = deps.now();
      const known = pending.get(read);
      if (known !== undefined) {
        known.count++;
        known.lastMs = now;
        return;
      }
      if (!add(read, { read, count: 1, firstMs: now, lastMs: now })) return deps.dropped("queue_full", 1);
      schedule(flushMs);
    },
    flush,
    async close(deadlineMs) {
      closed = true;
      cancel?.();
      cancel = undefined;
      const deadline = deps.now() + deadlineMs;
      // Waits at most `ms`, or until `until` settles; the timer never outlives the wait.
      const within = async (ms: number, until?: Promise<void>) => {
        let stop = () => {};
        await Promise.race([until ?? new Promise<void>(() => {}), new Promise<void>((resolve) => (stop = setTimer(resolve, Math.max(0, ms))))]);
        stop();
      };
      while ((pending.size > 0 || sending !== undefined) && deps.now() < deadline) {
        await within(deadline - deps.now(), flush());
        if (pending.size > 0 && failures > 0) await within(Math.min(200, deadline - deps.now()));
      }
      giveUp.abort();
      await sending;
      const left = [...pending.values()].reduce((n, p) => n + p.count, 0);
      pending.clear();
      if (left > 0) {
        deps.dropped("shutdown", left);
        deps.logger.error("cached reads not reported to the Broker before shutdown", { count: left });
      }
    },
  };
}
