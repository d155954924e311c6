/**
 * Polls `probe` until it returns something other than `undefined` and
 * returns that; a probe that throws counts as "not yet" (a database that is
 * restarting, a server not listening yet). Fails with `what` and the last
 * error after `ms`. Waits are generous on purpose: test files run two at a
 * time on small machines.
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000, everyMs = 100): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (error) {
      last = error;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last === undefined ? "" : ` (last error: ${String(last)})`}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Sleeps `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
