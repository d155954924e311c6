import type { WatchTokenChangesResponse } from "../../gen/nexus/broker/v1/token_cache_service_pb.ts";
import type { Logger } from "../shared/logger.ts";
import type { TokenAnswerCache } from "./token-answer-cache.ts";

/** Dependencies of {@linkcode startTokenChangeWatch}. */
export interface TokenChangeWatchDeps {
  /** Opens the Broker's change stream (TokenCacheService.WatchTokenChanges). */
  readonly open: (signal: AbortSignal) => AsyncIterable<WatchTokenChangesResponse>;
  readonly cache: TokenAnswerCache;
  readonly logger: Logger;
  /** A monotonic clock in ms. @default performance.now */
  readonly monotonicNow?: () => number;
  /** Silence on the stream past which the cache is distrusted and the stream reopened; the Broker beats every second. @default 3000 */
  readonly patienceMs?: number;
  /** Delay before reopening a stream that ended, doubling up to 2 s. @default 100 */
  readonly retryMs?: number;
  /** Waits `ms`, or less when `signal` aborts. @default setTimeout */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Runs `fn` every `ms`; returns a function that stops it. @default setInterval */
  readonly every?: (fn: () => void, ms: number) => () => void;
}

/** A running watch. */
export interface TokenChangeWatch {
  /** The Broker the stream comes from, while it is in sync: only its answers may be kept. */
  readonly brokerId: string | undefined;
  /** Ends the stream and leaves the cache empty and untrusted. */
  stop(): Promise<void>;
}

/**
 * Keeps the Gateway's token cache true to the Broker: the cache is used only
 * while the Broker's change stream is open, says it is in sync and was heard
 * within `patienceMs`; each change it reports drops the answers concerned.
 * Whenever that fails (the Broker restarts, the stream is cut or goes
 * silent, the Broker stops hearing its database) the cache is emptied and
 * every read goes to the Broker until the stream is in sync again.
 */
export function startTokenChangeWatch(deps: TokenChangeWatchDeps): TokenChangeWatch {
  const { cache, logger } = deps;
  const now = deps.monotonicNow ?? (() => performance.now());
  const patienceMs = deps.patienceMs ?? 3000;
  const firstRetryMs = deps.retryMs ?? 100;
  const sleep = deps.sleep ?? defaultSleep;
  const every = deps.every ?? ((fn, ms) => {
    const timer = setInterval(fn, ms);
    return () => clearInterval(timer);
  });
  const stopping = new AbortController();
  let current: AbortController | undefined;
  let brokerId: string | undefined;
  let lastHeard = now();
  let failing = false;

  function distrust(why: string): void {
    brokerId = undefined;
    if (!cache.trusted) return;
    cache.trust(false);
    logger.warn("token cache off: every read goes to the Broker", { why });
  }

  function apply(message: WatchTokenChangesResponse): void {
    const change = message.change;
    switch (change.case) {
      case "state":
        if (!change.value.inSync) return distrust("the Broker does not hear every change");
        brokerId = change.value.brokerId;
        if (!cache.trusted) {
          cache.trust(true);
          logger.info("token cache in use: the Broker's change stream is in sync", { broker_id: brokerId });
        }
        return;
      case "connectionId":
        return cache.dropConnection(change.value);
      case "agentId":
        return cache.dropAgent(change.value);
      case "everything":
        return cache.clear();
      case undefined:
        // A kind this Gateway does not know: forgetting everything is always safe.
        return cache.clear();
    }
  }

  async function run(): Promise<void> {
    let retryMs = firstRetryMs;
    while (!stopping.signal.aborted) {
      current = new AbortController();
      lastHeard = now();
      try {
        for await (const message of deps.open(current.signal)) {
          lastHeard = now();
          apply(message);
          retryMs = firstRetryMs;
          if (failing) logger.info("token change stream restored");
          failing = false;
        }
        distrust("the change stream ended");
      } catch (error) {
        distrust("the change stream failed");
        if (!failing && !stopping.signal.aborted) logger.warn("token change stream failed; retrying", { error: String(error) });
        failing = true;
      }
      await sleep(retryMs, stopping.signal);
      retryMs = Math.min(retryMs * 2, 2000);
    }
  }

  const running = run();
  // Silence is a failure too: a stream that stopped delivering cannot be told from a quiet one otherwise.
  const stopChecks = every(() => {
    if (now() - lastHeard <= patienceMs) return;
    distrust("the change stream went silent");
    current?.abort();
  }, Math.max(50, patienceMs / 3));

  return {
    get brokerId() {
      return brokerId;
    },
    async stop() {
      stopChecks();
      stopping.abort();
      current?.abort();
      await running;
      brokerId = undefined;
      cache.trust(false);
    },
  };
}

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}
