/** Bounds of an exponential backoff. */
export interface BackoffBounds {
  /** The ceiling of the first wait. */
  readonly initialMs: number;
  /** No wait is longer. */
  readonly maxMs: number;
}

/**
 * Exponential backoff with full jitter: a uniform wait in
 * `[0, min(maxMs, initialMs * 2^attempt))`. Full jitter spreads agents that
 * failed together (a Gateway restart) so they do not come back in lockstep.
 * `attempt` counts consecutive failures from 0.
 */
export function backoffDelay(attempt: number, bounds: BackoffBounds, random: () => number): number {
  const ceiling = Math.min(bounds.maxMs, bounds.initialMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
