/** The timer functions the client schedules with; inject them to observe or fake time. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The platform's timers. */
export const platformTimers: Timers = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as Parameters<typeof globalThis.clearTimeout>[0]),
};

/** A sleep function: waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/**
 * Waits `ms`. An abort rejects at once with `signal.reason` and clears the
 * timer and the abort listener, so a cancelled wait leaves no handle that
 * keeps the process alive.
 */
export function abortableSleep(ms: number, signal?: AbortSignal, timers: Timers = platformTimers): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      timers.clearTimeout(handle);
      reject(signal!.reason);
    };
    const handle = timers.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** A {@linkcode Sleep} over the given timers. */
export function sleepWith(timers: Timers): Sleep {
  return (ms, signal) => abortableSleep(ms, signal, timers);
}
