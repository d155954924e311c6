/**
 * Bounded HTTP for the OAuth engine: every request to a provider gets a
 * deadline, honours the caller's cancellation, and never follows redirects.
 */

/** The subset of `fetch` the engine needs; tests inject fakes of this shape. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Why a request produced no response. */
export type FetchFailureKind = "timeout" | "network_error" | "aborted";

/** Options of {@linkcode fetchWithTimeout}. */
export interface FetchWithTimeoutOptions {
  /** The caller's cancellation; aborting it rejects with its reason. */
  signal?: AbortSignal | undefined;
  /** Milliseconds until the request is abandoned. */
  timeoutMs: number;
}

/**
 * Calls `fetch` with a deadline combined with the caller's signal. The
 * deadline also covers reading the body, so a provider that trickles its
 * answer cannot hold a request open. When the deadline fires first, this
 * rejects with a `TimeoutError` DOMException even if the fetch implementation
 * reports the abort some other way, so {@linkcode fetchFailureKind} can tell a
 * timeout from a caller's abort. Redirects are never followed
 * (`redirect: "manual"`): a provider endpoint that redirects could send client
 * credentials or the request to a host nobody validated.
 */
export async function fetchWithTimeout(
  fetch: FetchLike,
  input: string | URL,
  init: RequestInit,
  options: FetchWithTimeoutOptions,
): Promise<Response> {
  // AbortSignal.timeout does not keep the process alive, unlike a pending setTimeout.
  const deadline = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal === undefined ? deadline : AbortSignal.any([deadline, options.signal]);
  try {
    return await fetch(input, { ...init, redirect: "manual", signal });
  } catch (error) {
    if (options.signal?.aborted === true) throw options.signal.reason;
    if (deadline.aborted) throw deadline.reason;
    throw error;
  }
}

/**
 * Classifies an error thrown by {@linkcode fetchWithTimeout}; pass the
 * caller's `signal` so an abort with a custom reason is still seen as one.
 */
export function fetchFailureKind(error: unknown, signal?: AbortSignal): FetchFailureKind {
  if (signal?.aborted === true) return "aborted";
  if (error instanceof Error || error instanceof DOMException) {
    if (error.name === "TimeoutError") return "timeout";
    if (error.name === "AbortError") return "aborted";
  }
  return "network_error";
}
