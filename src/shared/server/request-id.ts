/**
 * Request ids: the one name a caller, an operator and both services' logs
 * share for a request. A caller's `x-request-id` is kept when it is sane;
 * anything else is replaced by a new UUID, so a hostile value never reaches a
 * log line or the Broker.
 */

/** The header a request id travels in, both ways and from Gateway to Broker. */
export const requestIdHeader = "x-request-id";

/** Longest request id kept; longer ones are replaced. Room for a UUID, a ULID, a W3C trace id with a prefix. */
export const maxRequestIdLength = 128;

// Letters, digits and . _ : - only: what ids from proxies, load balancers and tracing systems use,
// and nothing that could break a log line, a header or a shell command an operator pastes it into.
const saneRequestId = /^[A-Za-z0-9._:-]+$/;

/** The caller's request id if it is sane (1 to 128 of `A-Za-z0-9._:-`), else undefined. */
export function acceptedRequestId(value: string | null | undefined): string | undefined {
  if (value === null || value === undefined || value.length === 0 || value.length > maxRequestIdLength) return undefined;
  return saneRequestId.test(value) ? value : undefined;
}
