import type { Logger } from "../../shared/logger.ts";
import type { RefreshClaim, RefreshQueue } from "../domain/ports.ts";
import type { RefreshService } from "../services/refresh-service.ts";
import { type Sleep, writeUntilLanded } from "../services/write-until-landed.ts";

/** Dependencies of {@linkcode startRefreshLoop}. */
export interface RefreshLoopDeps {
  readonly queue: RefreshQueue;
  readonly refresher: RefreshService;
  readonly logger: Logger;
  readonly random: () => number;
  /** A fresh id for each claim. */
  readonly randomUUID: () => string;
  /** @default Date.now */
  readonly now?: () => number;
  /** @default a setTimeout sleep */
  readonly sleep?: Sleep;
  /** This process's name on leases. */
  readonly owner: string;
  /** Refreshes in flight at most. */
  readonly concurrency: number;
  readonly leaseSeconds: number;
  /** Longest sleep between looks at the queue, in ms. @default 30000 */
  readonly maxSleepMs?: number;
  /**
   * Spread of the random delay before each refresh, in ms. It holds a
   * concurrency slot while it waits, so it stays small: enough to spread a
   * burst, not to throttle it. @default 25
   */
  readonly jitterMs?: number;
}

/** A running loop. */
export interface RefreshLoop {
  /** Looks at the queue now (a credential due soon was stored). */
  wake(): void;
  /**
   * Stops claiming and resolves once the loop has exited. Refreshes already
   * claimed go on: the refresh service's drain waits for them.
   */
  stop(): Promise<void>;
}

/**
 * The background refresh loop: claims due credentials in batches (leases on
 * the rows, so Brokers share the work without overlap), refreshes them with
 * bounded concurrency and a little jitter, and otherwise sleeps until the next
 * due time the database reports, or until woken by NOTIFY. A database outage
 * is waited out with growing pauses; the loop never dies. Stopping it never
 * aborts a refresh: a refresh token on the wire must have its answer written.
 */
export function startRefreshLoop(deps: RefreshLoopDeps): RefreshLoop {
  const maxSleepMs = deps.maxSleepMs ?? 30_000;
  const jitterMs = deps.jitterMs ?? 25;
  const controller = new AbortController();
  const signal = controller.signal;
  const running = new Set<Promise<void>>();
  let woken = false;
  let alarm: (() => void) | undefined;

  function wake(): void {
    woken = true;
    alarm?.();
  }

  function nap(ms: number): Promise<void> {
    if (woken || signal.aborted) {
      woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        alarm = undefined;
        woken = false;
        resolve();
      }
      alarm = done;
    });
  }

  function refreshOne(claim: RefreshClaim): Promise<void> {
    return deps.refresher.refreshClaimed(claim, deps.random() * jitterMs);
  }

  async function loop(): Promise<void> {
    let unlisten: (() => Promise<void>) | undefined;
    let pause = 1000;
    while (!signal.aborted) {
      try {
        unlisten ??= await deps.queue.onWake(wake);
        const room = deps.concurrency - running.size;
        const lease = { id: deps.randomUUID(), owner: deps.owner, seconds: deps.leaseSeconds };
        let claims: RefreshClaim[] = [];
        try {
          if (room > 0) claims = await deps.queue.claimDue(lease, room);
        } catch (error) {
          // The claim may have committed before its answer was lost: give back whatever it took, by its id,
          // retrying until the lease would have lapsed anyway.
          const now = deps.now ?? Date.now;
          const deadline = now() + deps.leaseSeconds * 1000;
          void writeUntilLanded(
            { now, sleep: deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))), random: deps.random, logger: deps.logger },
            { what: "release a batch claim whose answer was lost", fields: {}, deadline: () => deadline },
            () => deps.queue.releaseAll(lease),
          ).catch(() => {});
          throw error;
        }
        for (const claim of claims) {
          const task = refreshOne(claim).finally(() => {
            running.delete(task);
            wake();
          });
          running.add(task);
        }
        pause = 1000;
        if (claims.length > 0 && claims.length === room) continue; // more may be due
        if (running.size >= deps.concurrency) {
          await nap(maxSleepMs);
          continue;
        }
        const next = await deps.queue.secondsUntilNextDue();
        await nap(next === undefined ? maxSleepMs : Math.min(maxSleepMs, Math.max(50, next * 1000)));
      } catch (error) {
        if (signal.aborted) break;
        deps.logger.warn("refresh loop cannot reach the database; retrying", { err: error, retry_in_ms: pause });
        await nap(pause);
        pause = Math.min(pause * 2, 30_000);
      }
    }
    await unlisten?.().catch(() => {});
  }

  const done = loop();
  return {
    wake,
    async stop() {
      controller.abort();
      alarm?.();
      await done;
    },
  };
}
