/**
 * A clock and timers that move only when a test says so. `advance(ms)` runs
 * every timer due within `ms`, earliest first, and lets promise chains settle
 * before and after each one, so code that waits seconds is tested in
 * microseconds. Works for code whose own awaits are promise-based (fakes),
 * not real I/O.
 */
export interface ManualTimers {
  /** The current time in ms. */
  now(): number;
  /** Runs `fn` once when the clock has moved `ms` further; returns a function that cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
  /** Moves the clock by `ms`, running the timers that fall due on the way. */
  advance(ms: number): Promise<void>;
  /** Timers scheduled and not yet run or cancelled. */
  readonly pending: number;
}

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/** Creates manual timers whose clock starts at `start`. */
export function createManualTimers(start = 0): ManualTimers {
  let clock = start;
  let seq = 0;
  const timers = new Set<Timer>();
  // A macrotask turn runs every queued microtask first, however long the promise chain.
  const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

  function next(until: number): Timer | undefined {
    let first: Timer | undefined;
    for (const t of timers) {
      if (t.at <= until && (first === undefined || t.at < first.at || (t.at === first.at && t.seq < first.seq))) first = t;
    }
    return first;
  }

  return {
    now: () => clock,
    setTimer(fn, ms) {
      const timer = { at: clock + Math.max(0, ms), seq: seq++, fn };
      timers.add(timer);
      return () => void timers.delete(timer);
    },
    async advance(ms) {
      const end = clock + ms;
      await settle();
      for (let t = next(end); t !== undefined; t = next(end)) {
        timers.delete(t);
        clock = Math.max(clock, t.at);
        t.fn();
        await settle();
      }
      clock = end;
      await settle();
    },
    get pending() {
      return timers.size;
    },
  };
}
