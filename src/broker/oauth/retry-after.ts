/**
 * Parses `Retry-After` (RFC 9110 10.2.3), which providers send with 429 and
 * 503, into whole seconds from now.
 */

/** Longest wait honoured (1 day): a hostile or buggy header must not park a connection for years. */
export const maxRetryAfterSeconds = 24 * 60 * 60;

/**
 * Returns the seconds to wait, or `undefined` when the header is absent or
 * malformed. Accepts delay-seconds (`120`) and an HTTP date, which is taken
 * relative to `now` (ms since the epoch). Dates in the past give 0; values are
 * clamped to {@linkcode maxRetryAfterSeconds}.
 */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Math.min(Number(trimmed), maxRetryAfterSeconds);
  // Only date-shaped values: Date.parse accepts odd inputs such as "1".
  if (!/^[A-Za-z]{3,9},? /.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, Math.ceil((at - now) / 1000)), maxRetryAfterSeconds);
}
