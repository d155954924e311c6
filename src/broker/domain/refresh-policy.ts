/**
 * The refresh engine's rules, pure: what a failed attempt means for the
 * connection, how long to wait before the next one, and how soon after a
 * refresh another may run. No I/O; the refresh service applies them.
 */

/** What a failed refresh attempt means. */
export interface RefreshFailure {
  /**
   * `needs_user`: the provider refused the grant itself (only the user can fix
   * it). `retry`: anything else, ours, the network's or the provider's, which
   * may pass; it backs off and, after the give-up days, needs the user too.
   */
  readonly kind: "needs_user" | "retry";
  /** A reason code for the row, the audit event and the log; never provider text. */
  readonly reason: string;
  /** The provider's HTTP status; 0 when no answer came (or none was asked for). */
  readonly status: number;
  /** The provider asked for at least this long before the next attempt. */
  readonly retryAfterSeconds?: number;
  /**
   * The provider may have received the refresh token and rotated it without
   * our hearing the answer (a timeout or a broken connection after sending).
   */
  readonly maybeRotated: boolean;
}

/** OAuth error codes on a refresh that mean the grant is gone or this client may no longer use it. */
const refusals = new Set(["invalid_grant", "unauthorized_client"]);

/** Reasons that say no answer arrived although the request may have been sent. */
const unanswered = new Set(["timeout", "network_error"]);

/**
 * Classifies a token endpoint's failed answer. Only an explicit refusal of
 * the grant (invalid_grant, unauthorized_client) needs the user; a 5xx, 429,
 * timeout, network error, an HTML or other unparseable 200, and every other
 * 4xx (a wrong client secret is the operator's to fix, not the user's) are
 * retried with backoff.
 */
export function classifyTokenFailure(answer: { status: number; error: string; retryAfterSeconds?: number }): RefreshFailure {
  const base = {
    reason: answer.error,
    status: answer.status,
    // A 2xx that would not parse was processed by the provider all the same.
    maybeRotated: unanswered.has(answer.error) || (answer.status >= 200 && answer.status < 300),
    ...(answer.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: answer.retryAfterSeconds }),
  };
  const refused = refusals.has(answer.error) && answer.status >= 400 && answer.status < 500;
  return { kind: refused ? "needs_user" : "retry", ...base };
}

/** A failure before any refresh token was sent (discovery, decryption, configuration): always retried. */
export function failureBeforeSending(reason: string, retryAfterSeconds?: number): RefreshFailure {
  return { kind: "retry", reason, status: 0, maybeRotated: false, ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }) };
}

/** Longest wait between attempts, and longest Retry-After honoured. */
const maxBackoffSeconds = 3600;
const maxRetryAfterSeconds = 86_400;

/**
 * Seconds until the next attempt after `failuresSoFar` failures in a row:
 * `baseSeconds` doubling per failure, at most an hour, with ±20 % jitter
 * (`random` uniform in [0, 1)), and never sooner than the provider's
 * Retry-After (capped at a day).
 */
export function backoffSeconds(failuresSoFar: number, baseSeconds: number, random: () => number, retryAfterSeconds?: number): number {
  const exponent = Math.min(Math.max(0, failuresSoFar), 12);
  const backoff = Math.min(baseSeconds * 2 ** exponent, maxBackoffSeconds) * (0.8 + 0.4 * random());
  return Math.ceil(Math.max(backoff, Math.min(retryAfterSeconds ?? 0, maxRetryAfterSeconds)));
}

/**
 * True when a refresh of a token stored at `refreshedAt` would come sooner
 * than `minIntervalSeconds` after it: a provider that answers expires_in 0 or
 * 1 must not be asked again at once, on every read and every loop turn.
 */
export function refreshedTooRecently(refreshedAt: Date | null, now: number, minIntervalSeconds: number): boolean {
  return refreshedAt !== null && now - refreshedAt.getTime() < minIntervalSeconds * 1000;
}
