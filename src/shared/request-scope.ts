/**
 * What one request carries through every step of its handling, so that a log
 * line written deep in a service, or a call to the Broker, can name the
 * request it belongs to without each function passing it along. Core code
 * sees only this interface; the runtime gives the implementation (Node's
 * AsyncLocalStorage, which Deno also has).
 */

/** The facts of the request in progress. */
export interface RequestScopeValues {
  /** The request id: the caller's `x-request-id` when sane, else a new one. */
  readonly requestId: string;
  /** The W3C trace id, when tracing is on. */
  readonly traceId?: string;
}

/** Runs work inside a request and tells, anywhere in it, which request that is. */
export interface RequestScope {
  /** Runs `fn` so that {@linkcode RequestScope.current} answers `values` in everything it starts. */
  run<T>(values: RequestScopeValues, fn: () => T): T;
  /** The request in progress, or undefined outside any request (startup, background loops). */
  current(): RequestScopeValues | undefined;
}

/** A scope that remembers nothing: for tests and embeddings that need no request ids in logs. */
export const noRequestScope: RequestScope = {
  run: (_values, fn) => fn(),
  current: () => undefined,
};

/** The log fields of the request in progress: `request_id`, and `trace_id` when tracing is on. */
export function requestLogFields(scope: RequestScope): Record<string, string> | undefined {
  const values = scope.current();
  if (values === undefined) return undefined;
  return values.traceId === undefined ? { request_id: values.requestId } : { request_id: values.requestId, trace_id: values.traceId };
}
