import type { Sleep } from "./abortable-sleep.ts";
import { backoffDelay } from "./backoff-delay.ts";
import type { ClientLogger } from "./client-logger.ts";
import { toNexusClientError } from "./nexus-client-error.ts";

/** How a Gateway call is retried. Only `unavailable`-class errors are ever retried, never `payload_too_large`. */
export interface RetryOptions {
  /** Attempts in all, the first included. @default 3 */
  readonly attempts?: number;
  /** Ceiling of the first backoff. @default 200 */
  readonly baseDelayMs?: number;
  /** No backoff is longer. @default 5000 */
  readonly maxDelayMs?: number;
}

/** What {@linkcode withRetry} needs besides the operation. */
export interface RetryContext {
  readonly retry: RetryOptions | undefined;
  readonly random: () => number;
  readonly sleep: Sleep;
  readonly logger: Required<ClientLogger>;
  /** Names the operation in log lines, for example `GetToken`. */
  readonly what: string;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Runs `operation`, retrying errors that are `retryable` (unavailable, or
 * resource_exhausted with a retry hint) with exponential backoff and full
 * jitter; any other error (invalid_argument, not_found, failed_precondition,
 * unauthenticated, payload_too_large, ...) is thrown at once, because sending
 * the same request again cannot change the answer. A retry hint from the Gateway (google.rpc.RetryInfo)
 * lengthens the wait, within `maxDelayMs`. An abort ends the wait at once with the
 * signal's reason. Every failure is thrown as a NexusClientError.
 */
export async function withRetry<T>(operation: () => Promise<T>, ctx: RetryContext): Promise<T> {
  const attempts = Math.max(1, ctx.retry?.attempts ?? 3);
  const bounds = { initialMs: ctx.retry?.baseDelayMs ?? 200, maxMs: ctx.retry?.maxDelayMs ?? 5000 };
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation();
    } catch (thrown) {
      if (ctx.signal?.aborted) throw ctx.signal.reason;
      const error = toNexusClientError(thrown);
      if (!error.retryable || attempt + 1 >= attempts) throw error;
      const delayMs = Math.min(bounds.maxMs, Math.max(backoffDelay(attempt, bounds, ctx.random), error.retryAfterMs ?? 0));
      ctx.logger.warn("nexus call failed; retrying", { call: ctx.what, reason: error.reason, attempt: attempt + 1, delay_ms: delayMs });
      await ctx.sleep(delayMs, ctx.signal);
    }
  }
}
