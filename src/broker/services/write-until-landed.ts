import { NexusError } from "../../shared/errors.ts";
import type { Logger } from "../../shared/logger.ts";

/** Waits `ms`; injected so tests control time. */
export type Sleep = (ms: number) => Promise<void>;

/** Dependencies of {@linkcode writeUntilLanded}. */
export interface WriteRetryDeps {
  readonly now: () => number;
  readonly sleep: Sleep;
  readonly random: () => number;
  readonly logger: Logger;
}

/** Options of one {@linkcode writeUntilLanded}. */
export interface WriteRetryOptions {
  /** What is written, for the log: "store the refreshed tokens". */
  readonly what: string;
  /** Put on every log line (connection and provider ids; never a secret). */
  readonly fields: Readonly<Record<string, unknown>>;
  /** No retry starts after this time (ms); read before each wait, so it may move (a shutdown). */
  readonly deadline: () => number;
}

/** Retries of an error that is not a lost database: a bug or a refused statement will not pass by waiting long. */
const maxOtherFailures = 5;
const firstDelayMs = 100;
const maxDelayMs = 5000;

/**
 * Runs `write` until it succeeds, waiting between attempts with exponential
 * backoff and jitter (100 ms doubling to 5 s), through a database that is
 * down or restarting (`unavailable`) for as long as the deadline allows.
 * Writes here record something that already happened (a provider's answer, a
 * lease to give back), so they are never given up lightly: the first failure
 * is logged at warn and every tenth after it, a write that lands after
 * failing at info, and a write given up at error. Throws the last error when
 * the deadline passes, or after a few failures that are not `unavailable`.
 */
export async function writeUntilLanded<T>(deps: WriteRetryDeps, options: WriteRetryOptions, write: () => Promise<T>): Promise<T> {
  let other = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      const result = await write();
      if (attempt > 0) deps.logger.info(`${options.what}: written after ${attempt + 1} attempts`, { ...options.fields });
      return result;
    } catch (error) {
      const unreachable = error instanceof NexusError && error.reason === "unavailable";
      if (!unreachable) other++;
      const delay = Math.min(firstDelayMs * 2 ** Math.min(attempt, 10), maxDelayMs) * (0.5 + deps.random());
      if (other >= maxOtherFailures || deps.now() + delay > options.deadline()) {
        deps.logger.error(`${options.what}: given up after ${attempt + 1} attempts`, { ...options.fields, err: error, hint: "check the database (DATABASE_URL) and the cause in err" });
        throw error;
      }
      if (attempt % 10 === 0) {
        deps.logger.warn(`${options.what}: the write failed; retrying`, { ...options.fields, attempt: attempt + 1, retry_in_ms: Math.round(delay), err: error });
      }
      await deps.sleep(delay);
    }
  }
}
